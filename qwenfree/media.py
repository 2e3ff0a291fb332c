"""Drawing and filming: chat types, aspect ratios, drawing prompts and video tasks.

chat.qwen.ai draws inside a chat (upstream-chat-qwen-ai.md §9): chat type ``t2i`` answers with an
``image_gen`` frame holding the picture's URL; ``image_edit`` does the same for a picture sent
as an attachment; ``t2v`` answers JSON naming a task, which ``VideoTasks`` polls through the
backend (bounded by ``Settings.video_timeout``) until it holds the video's URL. URLs keep
their query string: the CDN needs its signed ``key``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from qwenfree import errors
from qwenfree.attachments import RequestFiles, media_parts
from qwenfree.catalog import Resolved
from qwenfree.conversation import Conversation, GenerationParams, ImagePart
from qwenfree.prompt import new_turn
from qwenfree.settings import Settings
from qwenfree.upstream.accounts import Router
from qwenfree.upstream.backend import Backend, Backends
from qwenfree.upstream.turn import Handle

DRAWING = frozenset({"t2i", "image_edit", "t2v"})
VERBS = {"t2i": "draw pictures", "image_edit": "edit pictures", "t2v": "make videos"}
RATIOS = {"1:1": 1.0, "4:3": 4 / 3, "3:4": 3 / 4, "16:9": 16 / 9, "9:16": 9 / 16}
SIZE = re.compile(r"(\d{2,5})\s*[x×*]\s*(\d{2,5})")


def chat_type(resolved: Resolved, params: GenerationParams) -> str:
    """The upstream chat type of a request: a drawing mode (from the model suffix or the
    images/videos routes), else ``search`` or ``t2t``; raise when the model cannot do it."""
    wanted = resolved.mode or str(params.extra.get("chat_type") or "")
    if not wanted:
        return "search" if resolved.search or params.search else "t2t"
    model = resolved.model
    if model.known and wanted not in model.modes:
        raise errors.InvalidRequest(
            f"The model '{model.id}' cannot {VERBS.get(wanted, wanted)}", param="model"
        )
    return wanted


def aspect_ratio(size: Any) -> str | None:
    """An OpenAI size (``1792x1024``) or a ratio (``16:9``) -> the nearest ratio the upstream
    offers (1:1, 4:3, 3:4, 16:9, 9:16); None for no preference (``auto``)."""
    if size is None or str(size).strip().lower() in ("", "auto"):
        return None
    text = str(size).strip().lower()
    if text in RATIOS:
        return text
    found = SIZE.fullmatch(text)
    if found is None or not int(found[1]) or not int(found[2]):
        raise errors.InvalidRequest(
            f"size must be WIDTHxHEIGHT (such as 1024x1024) or one of {', '.join(RATIOS)}, "
            f"not {size!r}",
            param="size",
        )
    shape = math.log(int(found[1]) / int(found[2]))
    return min(RATIOS, key=lambda r: abs(shape - math.log(RATIOS[r])))


def preload(
    chat_type: str, files: RequestFiles | None, conversation: Conversation, *, continuing: bool
) -> None:
    """Load (fetch, decode, check) a request's files and prompt before any account is tried:
    what fails here is the caller's fault, not the account's. A continued chat needs only the
    new turn's files; the rest load later if the continuation falls back to a new chat."""
    if chat_type in DRAWING:
        drawing_prompt(conversation)
    if files is None or chat_type in ("t2i", "t2v"):
        return
    if chat_type == "image_edit":
        files.select(list(edit_sources(conversation)))
        return
    messages = new_turn(conversation) if continuing else conversation.messages
    files.select(media_parts(messages))


def drawing_prompt(conversation: Conversation) -> str:
    """What a drawing mode sends: the latest user message's text (a transcript would be drawn)."""
    for message in reversed(conversation.messages):
        if message.role == "user" and message.text.strip():
            return message.text.strip()
    raise errors.InvalidRequest("Say what to draw: the last user message has no text")


def edit_sources(conversation: Conversation) -> list[ImagePart]:
    """The pictures to edit: those of the newest message that has any."""
    for message in reversed(conversation.messages):
        images = [p for p in message.parts if isinstance(p, ImagePart)]
        if images:
            return images
    raise errors.InvalidRequest(
        "Editing needs a picture: send one with the prompt (or use the -image model to draw)"
    )


class VideoTasks:
    """Polls video tasks a backend started."""

    def __init__(
        self,
        backends: Backends,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.backends = backends
        self.settings = settings
        self._clock = clock
        self._sleep = sleep

    def state(self, job: str, router: Router, tokens: Sequence[str]) -> tuple[str, str]:
        """Check a video started earlier (``job`` = ``<chat>.<task>.<tag>``, as ``MessageStart.id``
        named it) with the account that started it. A job of another shape, or of a credential
        this caller cannot use (``Router.owner``), is no video of ours: checked before any
        account is leased."""
        handle = Handle.parse(job)
        if handle is None:
            raise errors.NotFound(f"No video {job!r}")
        owner = router.owner(handle, tokens)
        if owner is None:  # another caller's video, or a made-up id
            raise errors.NotFound("The video was made with an account this request cannot use")
        for lease in router.leases(tokens, "t2v", owner):
            try:
                if lease.owner == owner:
                    backend = self.backends.for_credential(lease.token)
                    return backend.video_status(handle.response_id, lease.token)
            finally:
                lease.release()
        raise errors.NotFound("The video was made with an account this request cannot use")

    def wait(self, backend: Backend, task_id: str, token: str) -> str:
        """Poll until the video is ready; return its URL or raise why there is none."""
        deadline = self._clock() + self.settings.video_timeout
        while True:
            state, url = backend.video_status(task_id, token)
            if state == "done":
                if not url:  # some accounts get finished tasks without a video
                    raise errors.UpstreamEmpty(
                        f"{backend.name} finished the video task without a video"
                    )
                return url
            if state == "failed":
                raise errors.UpstreamUnavailable(f"{backend.name} could not make the video")
            if self._clock() >= deadline:
                raise errors.UpstreamTimeout(f"{backend.name} did not finish the video in time")
            self._sleep(self.settings.video_poll_interval)
