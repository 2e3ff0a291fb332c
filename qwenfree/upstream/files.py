"""Uploading files to chat.qwen.ai and the ``files[]`` entries that reference them
(upstream-chat-qwen-ai.md §6.5, §7.4).

Per file and account:

1. ``POST /api/v2/files/getstsToken`` (``/api/v1/...`` when v2 is refused) with the file's name,
   size and coarse type returns short-lived object-storage (Aliyun OSS) credentials, the object's
   key and ids. The answer is either flat (v1) or wrapped in ``{success, data}`` (2026).
2. One ``PUT`` sends the bytes to the object's URL, signed with those credentials. We sign with
   OSS signature V1 (HMAC-SHA1 over verb, Content-MD5, Content-Type, Date, the ``x-oss-*``
   headers and ``/bucket/key``): OSS accepts it alongside V4, the ali-oss SDK that peers use
   signs this way by default, and it is a dozen lines instead of a heavy SDK dependency.
3. Documents only: ``files/parse`` and then ``files/parse/status`` polled until it says success,
   bounded by ``Settings.parse_timeout``.

The resulting entry is remembered per account and content hash (``UploadCache``, bounded, with a
TTL that also respects the signed URL's expiry), so one picture repeated through a long
conversation, or a closed part of a long prompt (``long_prompt.py``), is uploaded once. The
account is the JWT's ``id`` claim: files belong to the account, and 15-minute access tokens
(§16.3) would otherwise empty the cache at every refresh; a token without one stands for itself.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from qwenfree import errors
from qwenfree.attachments import Blob
from qwenfree.settings import Settings
from qwenfree.upstream.accounts import digest, jwt_claim
from qwenfree.upstream.client import UpstreamClient

STS_PATHS = ("/api/v2/files/getstsToken", "/api/v1/files/getstsToken")
PARSE_PATH = "/api/v2/files/parse"
PARSE_STATUS_PATH = "/api/v2/files/parse/status"
STS_TYPES = {"image": "image", "video": "video", "audio": "audio", "document": "file"}
SHOW_TYPES = {"image": "image", "video": "video", "audio": "audio", "document": "file"}
FILE_CLASSES = {"image": "vision", "video": "video", "audio": "audio", "document": "document"}
PARSED = frozenset({"success", "completed", "done", "finished"})
PARSE_FAILED = frozenset({"failed", "error", "fail"})
EXPIRY_MARGIN = 300.0  # forget an upload this long before its signed URL expires


@dataclass(frozen=True, slots=True)
class Sts:
    """What ``getstsToken`` answered: credentials and where the object goes."""

    key_id: str
    secret: str
    token: str
    file_id: str
    file_url: str
    file_path: str
    bucket: str
    endpoint: str

    @classmethod
    def read(cls, body: Any) -> Sts:
        """Read either answer shape; raise UpstreamProtocolError when fields are missing."""
        data = body.get("data") if isinstance(body, Mapping) else None
        data = data if isinstance(data, Mapping) else body
        if not isinstance(data, Mapping):
            raise errors.UpstreamProtocolError("chat.qwen.ai sent no upload credentials")
        fields = ("access_key_id", "access_key_secret", "security_token", "file_id")
        missing = [f for f in fields if not data.get(f)]
        if missing or not (data.get("file_url") or data.get("file_path")):
            raise errors.UpstreamProtocolError(
                "chat.qwen.ai's upload credentials lack " + ", ".join(missing or ["file_url"])
            )
        region = str(data.get("region") or "")
        return cls(
            key_id=str(data["access_key_id"]),
            secret=str(data["access_key_secret"]),
            token=str(data["security_token"]),
            file_id=str(data["file_id"]),
            file_url=str(data.get("file_url") or ""),
            file_path=str(data.get("file_path") or ""),
            bucket=str(data.get("bucketname") or data.get("bucket") or ""),
            endpoint=str(data.get("endpoint") or (f"{region}.aliyuncs.com" if region else "")),
        )

    @property
    def object_url(self) -> str:
        """Where the PUT goes: the file URL without its signed query (it names the object in
        the bucket), else ``https://<bucket>.<endpoint>/<key>``."""
        if self.file_url:
            return self.file_url.split("?", 1)[0]
        return f"https://{self.bucket}.{self.endpoint}/{self.file_path}"

    @property
    def key(self) -> str:
        """The object key the signature covers."""
        if self.file_path:
            return self.file_path.lstrip("/")
        path = urlsplit(self.file_url).path.lstrip("/")
        return path.removeprefix(self.bucket + "/") if self.bucket else path


def sign_v1(secret: str, method: str, headers: Mapping[str, str], resource: str) -> str:
    """The OSS V1 signature of a request: base64(HMAC-SHA1(secret, string to sign))."""
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    oss = "".join(f"{k}:{lower[k]}\n" for k in sorted(lower) if k.startswith("x-oss-"))
    parts = [method, lower.get("content-md5", ""), lower.get("content-type", ""), lower["date"]]
    text = "\n".join(parts) + "\n" + oss + resource
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def put_headers(sts: Sts, blob: Blob, date: str) -> dict[str, str]:
    """Headers of the signed PUT (Content-MD5 lets storage verify the bytes arrived intact)."""
    headers = {
        "Content-Type": blob.media_type,
        "Content-MD5": base64.b64encode(
            hashlib.md5(blob.data, usedforsecurity=False).digest()
        ).decode(),
        "Date": date,
        "x-oss-security-token": sts.token,
    }
    signature = sign_v1(sts.secret, "PUT", headers, f"/{sts.bucket}/{sts.key}")
    return headers | {"Authorization": f"OSS {sts.key_id}:{signature}"}


def file_entry(blob: Blob, sts: Sts, now_ms: int) -> dict[str, Any]:
    """The ``files[]`` entry of an uploaded file, in the web client's shape (§7.4)."""
    kind = blob.kind
    meta: dict[str, Any] = {
        "name": blob.name,
        "size": len(blob.data),
        "content_type": blob.media_type,
    }
    if kind == "document":
        meta["parse_meta"] = {"parse_status": "success"}
    user_id = sts.file_path.split("/", 1)[0] if "/" in sts.file_path else ""
    return {
        "type": SHOW_TYPES[kind],
        "file": {
            "created_at": now_ms,
            "data": {},
            "filename": blob.name,
            "hash": None,
            "id": sts.file_id,
            "user_id": user_id,
            "meta": meta,
            "update_at": now_ms,
        },
        "id": sts.file_id,
        "url": sts.file_url or sts.object_url,
        "name": blob.name,
        "collection_name": "",
        "progress": 0,
        "status": "uploaded",
        "greenNet": "success",
        "size": len(blob.data),
        "error": "",
        "itemId": str(uuid.uuid4()),
        "file_type": blob.media_type,
        "showType": SHOW_TYPES[kind],
        "file_class": FILE_CLASSES[kind],
        "uploadTaskId": str(uuid.uuid4()),
    }


def url_expiry(url: str, wall: float) -> float | None:
    """Seconds until a signed URL's ``Expires``, if it names one."""
    values = parse_qs(urlsplit(url).query).get("Expires") or []
    return float(values[0]) - wall if values and values[0].isdigit() else None


class UploadCache:
    """Uploaded files' entries by (account, content hash): least recently used out, TTL."""

    def __init__(self, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._size = size
        self._clock = clock
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str], tuple[float, dict[str, Any]]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] <= self._clock():
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: tuple[str, str], entry: dict[str, Any], ttl: float) -> None:
        if self._size <= 0 or ttl <= 0:
            return
        with self._lock:
            self._items[key] = (self._clock() + ttl, entry)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class Uploader:
    """Turns a ``Blob`` into a ``files[]`` entry for one account, uploading it if needed."""

    def __init__(
        self,
        client: UpstreamClient,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.settings = settings
        self.cache = UploadCache(settings.upload_cache_size, clock)
        self._clock = clock
        self._sleep = sleep
        self._wall = wall

    def entry(self, blob: Blob, token: str) -> dict[str, Any]:
        """The entry for ``blob`` in a message sent with ``token``."""
        key = (account_key(token), blob.digest)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        sts = self.credentials(blob, token)
        date = email.utils.formatdate(self._wall(), usegmt=True)
        self.client.put(sts.object_url, blob.data, put_headers(sts, blob, date))
        if blob.kind == "document":
            self._parse(sts.file_id, blob.name, token)
        made = file_entry(blob, sts, int(self._wall() * 1000))
        ttl = self.settings.upload_cache_ttl
        expires = url_expiry(sts.file_url, self._wall())
        if expires is not None:
            ttl = min(ttl, expires - EXPIRY_MARGIN)
        self.cache.put(key, made, ttl)
        return made

    def credentials(self, blob: Blob, token: str) -> Sts:
        """Ask for upload credentials for ``blob`` (nothing is uploaded; make doctor asks too)."""
        body = {"filename": blob.name, "filesize": len(blob.data), "filetype": STS_TYPES[blob.kind]}
        try:
            answer = self.client.json("POST", STS_PATHS[0], token, body)
        except errors.UpstreamRejected:
            answer = self.client.json("POST", STS_PATHS[1], token, body)  # the 2025 endpoint
        return Sts.read(answer)

    def _parse(self, file_id: str, name: str, token: str) -> None:
        """Have the upstream read a document; wait (bounded) until it has."""
        self.client.json("POST", PARSE_PATH, token, {"file_id": file_id})
        deadline = self._clock() + self.settings.parse_timeout
        while True:
            answer = self.client.json("POST", PARSE_STATUS_PATH, token, {"file_id_list": [file_id]})
            status = parse_status(answer, file_id)
            if status in PARSED:
                return
            if status in PARSE_FAILED:
                raise errors.UpstreamRejected(f"chat.qwen.ai could not read the document '{name}'")
            if self._clock() >= deadline:
                raise errors.UpstreamTimeout(
                    f"chat.qwen.ai took too long to read the document '{name}'"
                )
            self._sleep(self.settings.poll_interval)


def account_key(token: str) -> str:
    """Whose storage an upload lands in: the account a JWT names, else the token itself."""
    account = jwt_claim(token, "id")
    return digest("account:" + account) if isinstance(account, str) and account else digest(token)


def parse_status(answer: Any, file_id: str) -> str:
    """The parse status of ``file_id`` in a ``files/parse/status`` answer (lower case)."""
    data = answer.get("data") if isinstance(answer, Mapping) else None
    if isinstance(data, Mapping):
        data = data.get("list") or data.get("items") or [data]
    records = [r for r in data or () if isinstance(r, Mapping)]
    found = next((r for r in records if r.get("file_id") == file_id), None)
    record = found or (records[0] if records else {})
    return str(record.get("status") or "").lower()
