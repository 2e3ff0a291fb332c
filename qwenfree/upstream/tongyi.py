"""Tongyi (qianwen.biz.aliyun.com) protocol: request bodies out, neutral events and typed errors
in. The second backend, for holders of ``tongyi_sso_ticket`` / ``login_aliyunid_ticket``.

Its stream is cumulative: every frame repeats the whole answer so far, so only the part beyond
what was already emitted becomes a delta (a shorter or equal snapshot emits nothing). See
upstream-tongyi.md §2-§3.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from qwenfree import errors
from qwenfree.catalog import ModelCatalog
from qwenfree.events import Event, ImageOutput, ReasoningDelta, TextDelta
from qwenfree.settings import Settings
from qwenfree.upstream import browser, qwen
from qwenfree.upstream.accounts import digest
from qwenfree.upstream.site import Site

NAME = "Tongyi"
CONVERSATION = "/dialog/conversation"
DELETE_SESSION = "/dialog/session/delete"
LIST_SESSIONS = "/dialog/session/list"
LONG_TICKET = 100  # longer tickets are login_aliyunid_ticket, shorter tongyi_sso_ticket
MODELS = ("qwen3-235b-a22b", "qwen3-coder-plus", "qwen3-30b-a3b", "qwen-max-latest")
# Tongyi's errorCode values, looked up exactly (a code this table lacks is a 502 that benches
# nothing for long). The reference names none of the site's own codes: these are the ones the
# fake and the old substring table used, each a guess. One test per row.
CODES: dict[str, type[errors.QwenfreeError]] = {
    "NOT_LOGIN": errors.UpstreamTokenRejected,
    "SESSION_EXPIRED": errors.UpstreamTokenRejected,
    "REQUEST_LIMIT": errors.UpstreamRateLimited,
    "NOT_FOUND": errors.ChatNotFound,
    "NOT_EXIST": errors.ChatNotFound,
    "INVALID_PARAM": errors.UpstreamRejected,  # upstream-tongyi.md §5 (a stream-mode report)
    "SYSTEM_ERROR": errors.UpstreamUnavailable,
}


def site(settings: Settings) -> Site:
    """The Tongyi site as the client sees it: the ticket rides in a cookie."""
    headers = {
        "User-Agent": qwen.USER_AGENT,
        "Accept": "application/json, text/plain, */*",
        "Origin": "https://tongyi.aliyun.com",
        "Referer": "https://tongyi.aliyun.com/",
        "X-Platform": "pc_tongyi",
    }

    def request_headers(path: str, chat_id: str | None) -> dict[str, str]:
        fresh = {"x-request-id": str(uuid.uuid4()), "timezone": browser.timezone()}
        return fresh | ({"Accept": "text/event-stream"} if path == CONVERSATION else {})

    return Site(
        settings.tongyi_url,
        headers,
        _credentials,
        TongyiParser,
        business_error,
        page_error,
        request_headers=request_headers,
        identity=digest,
        profile="tongyi-static",
        name=NAME,
    )


def page_error(text: str) -> errors.QwenfreeError:
    """Classify a non-SSE, non-JSON body (an HTML page)."""
    if any(m in text for m in qwen.CHALLENGE_MARKERS):
        return errors.UpstreamChallenged("Tongyi answered with an anti-bot challenge page")
    return errors.UpstreamUnavailable("Tongyi answered with an unexpected page")


def catalog(settings: Settings) -> ModelCatalog:
    """The model ids Tongyi accepts (a static list: the site publishes none); the usual
    default model name and the client aliases mean the Tongyi default model."""
    entries = [
        {"id": m, "name": m, "info": {"meta": {"chat_type": ["t2t", "search"]}}} for m in MODELS
    ]
    aliases = settings.model_aliases
    if settings.default_model:  # the chat.qwen.ai default's name means Tongyi's default here
        aliases += f",{settings.default_model}=default"
    return ModelCatalog(
        lambda token: entries,
        float("inf"),
        aliases=aliases,
        default_model=settings.tongyi_default_model,
    )


def _credentials(ticket: str) -> dict[str, str]:
    return {"Cookie": cookie(ticket)}


def is_ticket(credential: str) -> bool:
    """True for a Tongyi ticket, False for a chat.qwen.ai JWT (three dot-separated parts)."""
    return not (credential.startswith("eyJ") and credential.count(".") == 2)


def cookie(ticket: str) -> str:
    """The cookie the Tongyi site expects for a ticket."""
    name = "login_aliyunid_ticket" if len(ticket) > LONG_TICKET else "tongyi_sso_ticket"
    return f"{name}={ticket}; aliyun_choice=intl; _samesite_flag_=true; t={uuid.uuid4().hex}"


def conversation_body(
    text: str, *, model: str, session_id: str, parent_id: str, search: bool
) -> dict[str, Any]:
    """Body of ``POST /dialog/conversation`` carrying one merged prompt."""
    return {
        "mode": "chat",
        "model": model,
        "action": "next",
        "userAction": "chat",
        "requestId": uuid.uuid4().hex,
        "sessionId": session_id,
        "sessionType": "text_chat",
        "parentMsgId": parent_id,
        "params": {"fileUploadBatchId": str(uuid.uuid4()), "searchType": "deep" if search else ""},
        "contents": [{"content": text, "contentType": "text", "role": "user"}],
    }


def business_error(body: Mapping[str, Any]) -> errors.QwenfreeError | None:
    """The error a ``{"success": false, "errorCode", "errorMsg"}`` body stands for, if any."""
    if body.get("success") is not False:
        return None
    return coded_error(str(body.get("errorCode") or ""), str(body.get("errorMsg") or ""))


def coded_error(code: str, message: str) -> errors.QwenfreeError:
    said = f"Tongyi: {code or 'error'}" + (f": {message}" if message else "")
    if code and code not in CODES:
        return errors.UpstreamUnknownCode(f"{said} (an error code this gateway does not know)")
    return CODES.get(code, errors.UpstreamUnavailable)(said)


class TongyiParser:
    """Cumulative snapshots to deltas, per content type, for one answer."""

    def __init__(self) -> None:
        self.session_id = ""
        self.msg_id = ""
        self.answered = False
        self.finished = False  # saw msgStatus "finished"
        self.usage = None  # Tongyi reports no token counts
        self.response_id: str | None = None
        self.created_id: str | None = None
        self._sent: dict[str, int] = {}  # content type -> characters emitted
        self._images: set[str] = set()
        self.unknown: list[str] = []  # shapes not understood, by keys only (make doctor)

    def parse(self, payload: str) -> list[Event]:
        """Events for one SSE data payload; raise on an in-band error."""
        payload = payload.strip()
        if not payload or payload in ("[DONE]", "[heartbeat]"):
            return []
        try:
            frame = json.loads(payload)
        except json.JSONDecodeError:
            raise errors.UpstreamProtocolError("Tongyi sent an unreadable frame") from None
        if not isinstance(frame, dict):
            return []
        try:
            return self._frame(frame)
        except (TypeError, AttributeError, ValueError) as exc:
            raise errors.UpstreamProtocolError("Tongyi sent a frame of an unknown shape") from exc

    def _frame(self, frame: dict[str, Any]) -> list[Event]:
        if (err := business_error(frame)) is not None:
            raise err
        self.session_id = str(frame.get("sessionId") or self.session_id)
        self.msg_id = str(frame.get("msgId") or self.msg_id)
        self.response_id = self.msg_id or None
        out: list[Event] = []
        contents = frame.get("contents")
        if not isinstance(contents, list) and "msgStatus" not in frame:
            self._note(f"a frame with keys {sorted(frame)[:8]} (no contents list)")
        for part in contents or ():
            out += self._part(part)
        if frame.get("msgStatus") == "finished":
            self.finished = True
            if frame.get("errorCode"):
                raise coded_error(str(frame["errorCode"]), "the answer failed")
            if frame.get("canShare") is False:
                raise errors.ContentFiltered("Tongyi stopped the answer: content policy")
        return out

    def _part(self, part: Mapping[str, Any]) -> list[Event]:
        kind = str(part.get("contentType") or "text")
        content = part.get("content")
        if not isinstance(content, str):
            if content is not None:
                self._note(f"contents[].content is a {type(content).__name__} ({kind})")
            return []
        if kind == "text2image" or part.get("contentFrom") == "text2image":
            return self._image_urls(content)
        if kind not in ("text", "think"):
            return []
        sent = self._sent.get(kind, 0)
        if len(content) <= sent:
            return []  # a repeated or shrunk snapshot: nothing new
        self._sent[kind] = len(content)
        if kind == "think":
            return [ReasoningDelta(content[sent:])]
        self.answered = True
        return [TextDelta(content[sent:])]

    def _note(self, what: str) -> None:
        if what not in self.unknown and len(self.unknown) < 5:
            self.unknown.append(what)

    def _image_urls(self, content: str) -> list[Event]:
        out: list[Event] = []
        for url in content.split():
            if url.startswith("http") and url not in self._images:
                self._images.add(url)
                self.answered = True
                out.append(ImageOutput(url))  # keep the query string: the link needs it
        return out
