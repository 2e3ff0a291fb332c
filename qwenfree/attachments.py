"""The files of a conversation (images, documents, audio, video) as bytes ready to upload.

``RequestFiles`` belongs to one request. It decodes inline base64 and ``data:`` URLs or fetches
http(s) URLs (``fetch.Fetcher``, with its SSRF rules), each part once however many accounts are
tried, and enforces the size cap on every path. What a file *is* comes from its first bytes
(magic numbers), not from the type the caller declared: a declared type only refines a container
(a ZIP that says it is a .docx) or names a text file. Anything unrecognisable is refused, and so
is an "image" whose bytes are not a picture.

``RequestFiles.select`` picks the files one upstream message carries (the newest
``max_attachments``, each distinct content once) and the label each part gets in the prompt
text, so the model can tell which attachment a turn of the transcript meant.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import mimetypes
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from qwenfree import errors
from qwenfree.conversation import FilePart, ImagePart, Message, Part
from qwenfree.fetch import Fetcher

MediaPart = ImagePart | FilePart
Labels = dict[Part, str]  # how the prompt text names each attached part

MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"\x1aE\xdf\xa3", "video/webm"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword"),  # OLE2: .doc, .xls, .ppt
    (b"PK\x03\x04", "application/zip"),  # .docx, .xlsx, .pptx, .epub: see CONTAINERS
)
RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
FTYP = {  # ISO media brands; any other brand is an MP4 video
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"avif": "image/avif",
    b"M4A ": "audio/mp4",
    b"qt  ": "video/quicktime",
}
# A container's magic says little: the declared type names what is inside, if it is one of these.
CONTAINERS = {
    "application/zip": {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/epub+zip",
    },
    "application/msword": {"application/vnd.ms-excel", "application/vnd.ms-powerpoint"},
}
TEXT_TYPES = re.compile(
    r"text/[\w.+-]+|application/(json|xml|x-yaml|yaml|javascript|x-python|x-sh|sql|csv)"
)
IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/heic", "image/heif"}
)
NOUNS = {"image": "image", "video": "video", "audio": "audio recording", "document": "file"}


@dataclass(frozen=True, slots=True)
class Blob:
    """A file's bytes, its sniffed type, a safe file name and its SHA-256 (the cache key)."""

    data: bytes = field(repr=False)
    media_type: str
    name: str
    digest: str

    @property
    def kind(self) -> str:
        """``image``, ``video``, ``audio`` or ``document``."""
        top = self.media_type.split("/")[0]
        return top if top in ("image", "video", "audio") else "document"

    def label(self, number: int) -> str:
        """How the prompt text refers to this file as attachment ``number``."""
        noun = NOUNS[self.kind]
        if self.kind == "document":
            return f"[attached {noun} {number}: {self.name}]"
        return f"[attached {noun} {number}]"


def sniff(data: bytes, declared: str = "") -> str | None:
    """Name the content from its first bytes; None when it is nothing we can send."""
    declared = declared.split(";")[0].strip().lower()
    for magic, media_type in MAGIC:
        if data.startswith(magic):
            return declared if declared in CONTAINERS.get(media_type, ()) else media_type
    if data[:4] == b"RIFF" and data[8:12] in RIFF:
        return RIFF[data[8:12]]
    if data[4:8] == b"ftyp":
        return FTYP.get(data[8:12], "video/mp4")
    if data[:2] == b"BM" and len(data) > 26 and data[6:10] == b"\0\0\0\0":
        return "image/bmp"
    if len(data) > 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # an MP3 frame without an ID3 tag
    if _is_text(data[:8192]):
        return declared if TEXT_TYPES.fullmatch(declared) else "text/plain"
    return None


def _is_text(head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def media_parts(messages: Iterable[Message]) -> list[MediaPart]:
    """The image and file parts of ``messages``, in order."""
    return [p for m in messages for p in m.parts if isinstance(p, ImagePart | FilePart)]


class RequestFiles:
    """The files of one request: loaded on first use, remembered for the request's retries."""

    def __init__(self, fetcher: Fetcher, limit: int) -> None:
        self.fetcher = fetcher
        self.max_bytes = fetcher.max_bytes  # the same cap for inline data as for URLs
        self.limit = limit
        self._loaded: dict[Part, Blob] = {}

    def select(self, parts: list[MediaPart]) -> tuple[list[Blob], Labels]:
        """The distinct files to attach (the newest ``limit`` parts) and each part's label."""
        chosen = parts[max(0, len(parts) - self.limit) :] if self.limit > 0 else []
        blobs: list[Blob] = []
        labels: Labels = {}
        numbers: dict[str, int] = {}
        for part in chosen:
            blob = self.load(part)
            if blob.digest not in numbers:
                blobs.append(blob)
                numbers[blob.digest] = len(blobs)
            labels[part] = blob.label(numbers[blob.digest])
        return blobs, labels

    def load(self, part: MediaPart) -> Blob:
        """The part's bytes, checked and named; raise InvalidRequest when they cannot be used."""
        if part not in self._loaded:
            self._loaded[part] = self._load(part)
        return self._loaded[part]

    def _load(self, part: MediaPart) -> Blob:
        data, declared, name = self._bytes(part)
        shown = f"'{name}'" if name else "sent"
        if not data:
            raise errors.InvalidRequest(f"The file {shown} is empty")
        media_type = sniff(data, declared or part.media_type)
        if isinstance(part, ImagePart) and media_type not in IMAGE_TYPES:
            raise errors.InvalidRequest(
                "An image part is not a PNG, JPEG, GIF, WebP, BMP or HEIC picture"
                + (f" (it looks like {media_type})" if media_type else "")
            )
        if media_type is None:
            raise errors.InvalidRequest(
                f"The file {shown} is of a type that cannot be sent (declared as "
                f"{declared or part.media_type or 'nothing'}); send images, PDF, Office or text "
                "documents, audio or video"
            )
        digest = hashlib.sha256(data).hexdigest()
        return Blob(data, media_type, file_name(name, media_type, digest), digest)

    def _bytes(self, part: MediaPart) -> tuple[bytes, str, str]:
        """(bytes, declared type, file name) from inline data, a data: URL or a fetched URL."""
        name = part.name if isinstance(part, FilePart) else ""
        if part.data is not None:
            return self.decode(part.data), part.media_type, name
        url = (part.url or "").strip()
        if url[:5].lower() == "data:":
            head, _, payload = url[5:].partition(",")
            declared = head.split(";")[0]
            if ";base64" in head.lower():
                return self.decode(payload), declared, name
            return self._capped(unquote_to_bytes(payload)), declared, name
        fetched = self.fetcher.get(url)
        path_name = unquote(posixpath.basename(urlsplit(fetched.url).path))
        return fetched.data, fetched.content_type or part.media_type, name or path_name

    def decode(self, text: str) -> bytes:
        """Decode base64 (standard or URL-safe, padding optional), refusing it above the cap."""
        compact = "".join(text.split())
        if len(compact) * 3 // 4 > self.max_bytes:
            raise self._too_large()
        compact = compact.replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidRequest("A file's base64 data is not valid base64") from None

    def _capped(self, data: bytes) -> bytes:
        if len(data) > self.max_bytes:
            raise self._too_large()
        return data

    def _too_large(self) -> errors.InvalidRequest:
        mb = self.max_bytes // (1024 * 1024)
        return errors.InvalidRequest(f"A file is larger than {mb} MB (QWENFREE_MAX_FILE_MB)")


def file_name(given: str, media_type: str, digest: str) -> str:
    """A file name safe to send upstream: the caller's, reduced to plain characters, with an
    extension matching the content; ``file-<hash>`` when there is none."""
    stem, ext = posixpath.splitext(posixpath.basename(given.replace("\\", "/")))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or f"file-{digest[:12]}"
    wanted = mimetypes.guess_extension(media_type) or ""
    known = mimetypes.guess_type("x" + ext.lower())[0] == media_type
    return stem + (ext.lower() if known and ext else wanted or ".bin")
