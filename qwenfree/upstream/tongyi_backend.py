"""Tongyi (qianwen.biz.aliyun.com) as a ``Backend``, for holders of a Tongyi ticket.

No chat is created up front: the first answer opens a session (``sessionId``), continued by
naming the previous message (``parentMsgId``). Text and search only. Bodies and frames are
``tongyi.py``'s; bytes move through ``client.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from qwenfree import errors
from qwenfree.catalog import ModelCatalog
from qwenfree.chats import ChatJanitor
from qwenfree.events import TextDelta
from qwenfree.settings import Settings
from qwenfree.upstream import tongyi
from qwenfree.upstream.accounts import AccountSpec
from qwenfree.upstream.backend import Answer, Probe, VideoJob, first_event
from qwenfree.upstream.client import UpstreamClient
from qwenfree.upstream.credentials import TokenKeeper
from qwenfree.upstream.paths import HEX32, shaped
from qwenfree.upstream.turn import Turn

CHAT_TYPES = ("t2t", "search")


class TongyiBackend:
    takes_text_files = False  # no upload flow in our code: an oversized prompt is refused

    def __init__(self, settings: Settings, client: UpstreamClient, janitor: ChatJanitor) -> None:
        self.name = client.site.name
        self.settings = settings
        self.client = client
        self.janitor = janitor
        self._catalog = tongyi.catalog(settings)

    def accepts(self, credential: str) -> bool:
        """Only when enabled: then any credential that is not a chat.qwen.ai JWT."""
        return self.settings.tongyi_tickets and tongyi.is_ticket(credential)

    def catalog(self) -> ModelCatalog:
        return self._catalog

    def open(self, turn: Turn, token: str) -> Answer:
        if turn.chat_type not in CHAT_TYPES:
            raise errors.InvalidRequest("Tongyi tickets can chat and search only", param="model")
        if turn.blobs:
            raise errors.InvalidRequest(
                "Images and files need a chat.qwen.ai token; Tongyi tickets carry text only",
                param="messages",
            )
        if turn.chat_id is not None and not (
            shaped(HEX32, turn.chat_id) and shaped(HEX32, turn.parent_id)
        ):
            raise errors.ChatNotFound(f"{self.name} has no session {turn.chat_id!r}")
        return self._start(turn, token, turn.chat_id or "", turn.parent_id or "")

    def follow_up(self, answer: Answer, text: str) -> Answer:
        turn = answer.turn.follow_up(text, answer.chat_id, answer.response_id)
        return self._start(turn, answer.token, answer.chat_id, answer.response_id)

    def delete_chat(self, chat_id: str, token: str) -> None:
        self.client.json(
            "POST", tongyi.DELETE_SESSION, token, {"sessionId": chat_id}, chat_id=chat_id
        )

    def check(self, token: str) -> bool:
        try:
            sessions = self.client.json("POST", tongyi.LIST_SESSIONS, token, {})
        except errors.UpstreamTokenRejected:
            return False
        return isinstance(sessions, dict) and isinstance(sessions.get("data"), list)

    def start_video(self, turn: Turn, token: str) -> VideoJob:
        raise errors.InvalidRequest("Tongyi tickets can chat and search only", param="model")

    def video_status(self, task_id: str, token: str) -> tuple[str, str]:
        raise errors.NotFound("Tongyi makes no videos")

    def download(self, url: str, max_bytes: int) -> bytes:
        return self.client.download(url, max_bytes)

    def close(self) -> None:
        self.client.close()

    def diagnose(
        self, spec: AccountSpec, keeper: TokenKeeper, media: bool, secret: Callable[[str], None]
    ) -> list[Probe]:
        """Tongyi's equivalents of chat.qwen.ai's steps: a ticket neither refreshes nor
        uploads, and the first answer opens the session that is then deleted."""
        ticket = str(spec.token)
        model = self.settings.tongyi_default_model
        session: dict[str, str] = {}

        def check() -> str:
            if not self.check(ticket):
                raise errors.UpstreamTokenRejected(f"{self.name} refused the ticket")
            return "ticket accepted"

        def complete() -> str:
            turn = Turn(model, "t2t", False, None, "Reply with the single word: ok")
            answer = self._start(turn, ticket, "", "")
            try:
                events = list(answer.events)
            finally:
                answer.close()
            session["id"] = answer.chat_id
            secret(answer.chat_id)
            text = "".join(e.text for e in events if isinstance(e, TextDelta))
            return f"answered {len(text)} characters in {len(events)} events"

        def delete() -> str:
            self.delete_chat(session["id"], ticket)
            return "session deleted"

        text_only = "Tongyi tickets carry text only"
        return [
            Probe("credential form", lambda: "Tongyi ticket"),
            Probe("refresh", lambda: "", skip="Tongyi tickets do not refresh"),
            Probe("credential check", check),
            Probe("model list", lambda: f"built in, using {model}", ("credential check",)),
            Probe("create chat", lambda: "", skip="the first answer opens the session"),
            Probe("completion (stream)", complete, ("credential check",)),
            Probe("delete chat", delete, ("completion (stream)",)),
            Probe("upload credential (STS)", lambda: "", skip=text_only),
            Probe("image (t2i)", lambda: "", skip=text_only),
        ]

    def _start(self, turn: Turn, token: str, session_id: str, parent_id: str) -> Answer:
        body = tongyi.conversation_body(
            turn.text,
            model=turn.model,
            session_id=session_id,
            parent_id=parent_id,
            search=turn.chat_type == "search",
        )
        upstream = self.client.stream(tongyi.CONVERSATION, token, body, chat_id=session_id or None)
        try:
            events = first_event(upstream, self.name)
        except BaseException:
            upstream.close()
            raise
        session = upstream.parser.session_id or session_id
        self.janitor.acquire(session, token)
        answer = Answer(
            self.name, session, upstream, events, turn, token, lambda: self.janitor.release(session)
        )
        return answer
