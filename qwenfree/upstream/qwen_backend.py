"""chat.qwen.ai as a ``Backend``: its paths, its chats, its uploads, its drawing and filming.

A chat is created first (``POST /api/v2/chats/new``), then each turn is one completion in it
(``POST /api/v2/chat/completions?chat_id=``), continued natively by naming the previous answer
as the parent. Pictures come in the stream (``image_gen``, ``image_edit_tool``); when a drawing
ends without one, the chat is read back. Videos are tasks polled at ``/api/v2/task/status``
(v1 as a fallback). Bodies and frames are ``qwen.py``'s; bytes move through ``client.py``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from qwenfree import errors
from qwenfree.catalog import ModelCatalog
from qwenfree.chats import ChatJanitor
from qwenfree.events import Event, ImageOutput
from qwenfree.settings import Settings
from qwenfree.upstream import qwen, qwen_diagnose
from qwenfree.upstream.accounts import AccountSpec
from qwenfree.upstream.backend import Answer, Probe, VideoJob, first_event
from qwenfree.upstream.client import UpstreamClient, UpstreamStream
from qwenfree.upstream.credentials import TokenKeeper
from qwenfree.upstream.files import Uploader
from qwenfree.upstream.native_tools import NativeTools
from qwenfree.upstream.paths import UUID, part, shaped
from qwenfree.upstream.turn import Turn
from qwenfree.upstream.warm_chats import WarmChats

log = logging.getLogger(__name__)
NEW_CHAT = "/api/v2/chats/new"
MODELS = "/api/models"
ME = "/api/v1/auths/"
TASK_STATUS = ("/api/v2/task/status/", "/api/v1/tasks/status/")  # newest first (§16.5)
VIDEO_SIZE = "16:9"  # the site refuses a video without a size (S1 §4.1); 1280x720, as /v1/videos
# A task status other than these is a failure (§16.5): reading an unknown one as "still
# running" would poll until the timeout when the site renames its states. "pending" is the
# v1 path's word for a queued task (§6.6).
TASK_STATES = {"running": "running", "pending": "running", "success": "done"}
URL = re.compile(r"https?://[^\s)\]\"'<>]+")


def completions(chat_id: str) -> str:
    return f"/api/v2/chat/completions?chat_id={part(chat_id)}"


def chat(chat_id: str) -> str:
    return f"/api/v2/chats/{part(chat_id)}"


class QwenBackend:
    takes_text_files = True  # documents, through the STS + OSS upload (files.py)

    def __init__(
        self,
        settings: Settings,
        client: UpstreamClient,
        janitor: ChatJanitor,
        models_token: Callable[[str | None], str | None] = lambda token: token,
        clock: Callable[[], float] = time.time,
        warm_report: Callable[[str, int], None] = lambda event, ready: None,
    ) -> None:
        self.name = client.site.name
        self.settings = settings
        self.client = client
        self.janitor = janitor
        self.clock = clock
        self.uploader = Uploader(client, settings)
        self.native_tools = NativeTools(client, settings.native_tools_off)
        self.warm = WarmChats(
            self._create_chat,
            janitor,
            per_key=settings.warm_chats,
            chat_ttl=settings.chat_ttl,
            report=warm_report,
        )
        self._models_token = models_token
        self._catalog = ModelCatalog(
            self._list_models,
            settings.models_ttl,
            aliases=settings.model_aliases,
            default_model=settings.default_model,
        )

    def _list_models(self, token: str | None) -> list[dict[str, Any]]:
        """The site's model list, asked with the caller's credential or a server-held one."""
        return self.client.json("GET", MODELS, self._models_token(token)).get("data") or []

    def accepts(self, credential: str) -> bool:
        return True  # the default site: every credential no other backend claims

    def catalog(self) -> ModelCatalog:
        return self._catalog

    # -- chat

    def open(self, turn: Turn, token: str) -> Answer:
        self.native_tools.before(token, turn.caller_tools)
        if turn.chat_id is not None:
            if not (shaped(UUID, turn.chat_id) and shaped(UUID, turn.parent_id)):
                raise errors.ChatNotFound(f"{self.name} has no chat {turn.chat_id!r}")
            files = self._upload(turn, token)
            return self._start(turn, token, turn.chat_id, turn.parent_id, files)
        files = self._upload(turn, token)  # before a chat is created for them
        try:
            for _ in range(2):  # a warm chat; another one if it is still busy (§16.6)
                chat_id = self.warm.lease(token, turn.model, turn.chat_type)
                if chat_id is None:
                    break
                try:
                    return self._start(turn, token, chat_id, None, files)
                except errors.ChatBusy:
                    log.info("a warm chat is still busy; taking another")
                finally:
                    self.janitor.release(chat_id)  # the pool's hold; the answer holds its own
            return self._start(turn, token, self._new_chat(turn, token), None, files)
        finally:
            self.warm.refill(token, turn.model, turn.chat_type)

    def follow_up(self, answer: Answer, text: str) -> Answer:
        turn = answer.turn.follow_up(text, answer.chat_id, answer.response_id)
        return self._start(turn, answer.token, answer.chat_id, answer.response_id, [])

    def delete_chat(self, chat_id: str, token: str) -> None:
        self.client.json("DELETE", chat(chat_id), token, chat_id=chat_id)

    def check(self, token: str) -> bool:
        try:
            me = self.client.json("GET", ME, token)
        except errors.UpstreamTokenRejected:
            return False
        return isinstance(me, dict) and me.get("role") in ("user", "admin")

    def download(self, url: str, max_bytes: int) -> bytes:
        return self.client.download(url, max_bytes)

    def close(self) -> None:
        self.warm.close()
        self.client.close()

    def diagnose(
        self, spec: AccountSpec, keeper: TokenKeeper, media: bool, secret: Callable[[str], None]
    ) -> list[Probe]:
        """The calls the gateway depends on, each once (README "Troubleshooting")."""
        return qwen_diagnose.probes(self, spec, keeper, media, secret)

    def _upload(self, turn: Turn, token: str) -> list[dict[str, object]]:
        return [self.uploader.entry(blob, token) for blob in turn.blobs]

    def _new_chat(self, turn: Turn, token: str) -> str:
        return self._create_chat(token, turn.model, turn.chat_type)

    def _create_chat(self, token: str, model: str, chat_type: str) -> str:
        body = qwen.new_chat_body(model, chat_type, self.clock())
        created = self.client.json("POST", NEW_CHAT, token, body)
        chat_id = str(((created or {}).get("data") or {}).get("id") or "")
        if not chat_id:
            raise errors.UpstreamProtocolError(f"{self.name} created a chat without an id")
        return chat_id

    def _start(
        self,
        turn: Turn,
        token: str,
        chat_id: str,
        parent_id: str | None,
        files: list[dict[str, object]],
    ) -> Answer:
        """Open the completion and read until its first event, so failures surface here."""
        self.janitor.acquire(chat_id, token)
        body = qwen.completion_body(
            turn.text,
            model=turn.model,
            chat_id=chat_id,
            parent_id=parent_id,
            chat_type=turn.chat_type,
            thinking=turn.thinking,
            thinking_budget=turn.thinking_budget,
            now=self.clock(),
            files=files,
            size=turn.size,
        )
        upstream: UpstreamStream | None = None
        try:
            upstream = self.client.stream(completions(chat_id), token, body, chat_id=chat_id)
            answer = Answer(
                self.name,
                chat_id,
                upstream,
                iter(()),
                turn,
                token,
                lambda: self.janitor.release(chat_id),
            )
            events: Iterator[Event] = iter(upstream)
            if turn.chat_type == "t2i":
                events = self._drawn(answer, events)
            answer.events = first_event(events, self.name, upstream)
            return answer
        except BaseException:
            if upstream is not None:
                upstream.close()
            self.janitor.release(chat_id)
            raise

    def _drawn(self, answer: Answer, events: Iterator[Event]) -> Iterator[Event]:
        """A drawing's events; when it ends without a picture, the picture may still be in the
        chat (peers read it back before failing)."""
        drawn = False
        for event in events:
            drawn = drawn or isinstance(event, ImageOutput)
            yield event
        if drawn:
            return
        log.info("the drawing ended without a picture; reading the chat back")
        found = self.client.json("GET", chat(answer.chat_id), answer.token, chat_id=answer.chat_id)
        url = chat_image_url(found)
        if url:
            answer.mark_answered()
            yield ImageOutput(url)

    # -- video

    def start_video(self, turn: Turn, token: str) -> VideoJob:
        chat_id = self._new_chat(turn, token)
        body = qwen.completion_body(
            turn.text,
            model=turn.model,
            chat_id=chat_id,
            parent_id=None,
            chat_type="t2v",
            thinking=turn.thinking,
            thinking_budget=None,
            now=self.clock(),
            size=turn.size or VIDEO_SIZE,
        )
        self.janitor.acquire(chat_id, token)
        try:
            answer = self.client.json("POST", completions(chat_id), token, body, chat_id=chat_id)
            return VideoJob(chat_id, video_task_id(answer))
        except BaseException:
            self.janitor.release(chat_id)
            raise

    def video_status(self, task_id: str, token: str) -> tuple[str, str]:
        """The newest status path first; the older one when the site does not know it (a 404
        or Not_Found)."""
        newest, older = TASK_STATUS
        try:
            answer = self.client.json("GET", newest + part(task_id), token)
        except errors.UpstreamRejected:  # ChatNotFound (Not_Found) included
            answer = self.client.json("GET", older + part(task_id), token)
        state, url = task_state(answer)
        if state == "failed":
            log.warning("video task failed upstream: status %s", _status_of(answer))
        return state, url


def _status_of(answer: Any) -> str:
    data = answer.get("data") if isinstance(answer, dict) else None
    data = data if isinstance(data, dict) else answer if isinstance(answer, dict) else {}
    return repr(str(data.get("task_status") or data.get("status") or "")[:40])


def video_task_id(answer: Any) -> str:
    """The task id in the JSON answer to a ``t2v`` completion; raise if there is none."""
    data = answer.get("data") if isinstance(answer, Mapping) else None
    data = data if isinstance(data, Mapping) else {}
    for message in data.get("messages") or [data]:
        extra = (message or {}).get("extra") if isinstance(message, Mapping) else None
        task = ((extra or {}).get("wanx") or {}).get("task_id") or (message or {}).get("task_id")
        if task:
            return str(task)
    raise errors.UpstreamProtocolError("chat.qwen.ai started no video task")


def task_state(answer: Any) -> tuple[str, str]:
    """(state, video URL) from ``GET /api/v2/task/status/{id}`` (or v1's): state is ``done``,
    ``running`` or, for any other status, ``failed``; the answer may be flat or wrapped in
    ``{success, data}``."""
    data = answer.get("data") if isinstance(answer, Mapping) else None
    data = data if isinstance(data, Mapping) and "task_status" in data else answer
    if not isinstance(data, Mapping):
        raise errors.UpstreamProtocolError("chat.qwen.ai sent a task status of an unknown shape")
    status = str(data.get("task_status") or data.get("status") or "").lower()
    content = data.get("content")
    url = content if isinstance(content, str) else ""
    return TASK_STATES.get(status, "failed"), url


def chat_image_url(answer: Any) -> str:
    """The picture URL in the last assistant message of ``GET /api/v2/chats/{id}`` (its
    content or extra), or ""; read leniently, the stored shape is not documented."""
    data = answer.get("data") if isinstance(answer, Mapping) else None
    chat = data.get("chat") if isinstance(data, Mapping) else None
    chat = chat if isinstance(chat, Mapping) else {}
    messages = chat.get("messages")
    if not isinstance(messages, list):
        history = chat.get("history")
        nodes = history.get("messages") if isinstance(history, Mapping) else None
        messages = list(nodes.values()) if isinstance(nodes, Mapping) else []
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            for where in (message.get("content"), message.get("extra")):
                if url := next(_urls(where, 6), ""):
                    return url
            return ""
    return ""


def _urls(value: Any, depth: int) -> Iterator[str]:
    """URLs in strings anywhere in a JSON value (bounded depth)."""
    if isinstance(value, str):
        yield from URL.findall(value)
    elif depth > 0 and isinstance(value, Mapping):
        for item in value.values():
            yield from _urls(item, depth - 1)
    elif depth > 0 and isinstance(value, list):
        for item in value:
            yield from _urls(item, depth - 1)
