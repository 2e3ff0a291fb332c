"""chat.qwen.ai protocol: request bodies out, neutral events and typed errors in.

Maps meaning only; moving bytes is ``client.py``'s job. See upstream-chat-qwen-ai.md §7-§11.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from qwenfree import errors
from qwenfree.events import Citations, Event, ImageOutput, ReasoningDelta, Source, TextDelta, Usage
from qwenfree.settings import Settings
from qwenfree.upstream import browser
from qwenfree.upstream.accounts import digest, jwt_claim
from qwenfree.upstream.browser import BrowserProfile
from qwenfree.upstream.qwen_codes import (  # noqa: F401  (re-exported: the site's error readers)
    CHALLENGE_MARKERS,
    CODES,
    DETAILS,
    GENERAL_CODES,
    business_error,
    coded_error,
    page_error,
)
from qwenfree.upstream.site import Site

NAME = "chat.qwen.ai"
USER_AGENT = BrowserProfile().user_agent
REFRESH_PATH = "/api/v2/auths/refresh"  # on the auth host (QWENFREE_AUTH_URL)
END_PHASES = ("answer", "image_gen", "image_edit_tool")


def new_chat_body(model: str, chat_type: str, now: float) -> dict[str, Any]:
    """Body of ``POST /api/v2/chats/new`` in the current web client's shape."""
    return {
        "title": "New Chat",
        "chatId": "",
        "project_id": "",
        "models": [model],
        "chat_mode": "normal",
        "chat_type": chat_type,
        "timestamp": int(now * 1000),
    }


def completion_body(
    content: str | list[dict[str, Any]],
    *,
    model: str,
    chat_id: str,
    parent_id: str | None,
    chat_type: str,
    thinking: bool,
    thinking_budget: int | None,
    now: float,
    files: Sequence[Mapping[str, Any]] = (),
    size: str | None = None,
) -> dict[str, Any]:
    """Body of ``POST /api/v2/chat/completions``: always exactly one user message, carrying
    ``files`` (uploaded attachments, §7.4). ``size`` is the aspect ratio of a picture or video;
    a video (``t2v``) is requested with ``stream: false`` and answered with a task (§9.3)."""
    feature = {
        "thinking_enabled": thinking,
        "output_schema": "phase",  # without it frames carry no phase and answers look empty
        "research_mode": "normal",
        "auto_thinking": False,
        "thinking_mode": "Thinking" if thinking else "Disabled",
        "thinking_format": "summary",
        "auto_search": chat_type == "search",
    }
    if thinking and thinking_budget:
        feature["thinking_budget"] = thinking_budget
    message = {
        "fid": str(uuid.uuid4()),
        "parentId": parent_id,
        "parent_id": parent_id,
        "childrenIds": [str(uuid.uuid4())],
        "role": "user",
        "content": content,
        "user_action": "chat",
        "files": list(files),
        "timestamp": int(now),
        "models": [model],
        "chat_type": chat_type,
        "feature_config": feature,
        "extra": {"meta": {"subChatType": chat_type}},
        "sub_chat_type": chat_type,
    }
    sized = {"size": size} if size else {}
    if size and chat_type == "t2v":  # the web client sends it in the meta too (§16.5)
        message["extra"] = {"meta": {"subChatType": chat_type, "size": size}}
    return {
        "stream": chat_type != "t2v",
        "version": "2.1",
        "incremental_output": True,
        "chat_id": chat_id,
        "chatId": chat_id,
        "chat_mode": "normal",
        "model": model,
        "parent_id": parent_id,
        "parentId": parent_id,
        "messages": [message | sized],
        "timestamp": int(now),
    } | sized


class FrameParser:
    """Turns the ``data:`` payloads of one completion stream into neutral events.

    Keeps the state the protocol needs: the candidate we locked onto (the upstream sometimes
    streams two interleaved candidates), how much of the cumulative thinking summary was already
    emitted, and the last usage figures.
    """

    def __init__(self) -> None:
        self.response_id: str | None = None
        self.created_id: str | None = None
        self._usage: dict[str, Any] | None = None  # the last figures, read when asked for
        self.answered = False  # saw answer text or an image
        self.finished = False  # saw the answer's own end mark (a "finished" answer frame)
        self._thought_items = 0  # complete summary items already emitted
        self._thought_tail = 0  # characters emitted of the item in progress
        self._pictures: set[str] = set()  # edited pictures already emitted
        # Frames and fields of a shape this parser does not know (the site changed): skipped
        # here, named by ``make doctor``. A few, described by keys only (never content).
        self.unknown: list[str] = []

    def parse(self, payload: str) -> list[Event]:
        """Events for one SSE data payload; raise on an in-band error."""
        payload = payload.strip()
        if not payload or payload in ("[DONE]", "[heartbeat]"):
            return []
        try:
            frame = json.loads(payload)
        except json.JSONDecodeError:
            # Some servers put one JSON object per line without blank separators.
            if "\n" not in payload:
                raise errors.UpstreamProtocolError(
                    "chat.qwen.ai sent an unreadable frame"
                ) from None
            return [e for line in payload.split("\n") for e in self.parse(line)]
        if not isinstance(frame, dict):
            return []
        try:
            return self._frame(frame)
        except (TypeError, AttributeError, ValueError) as exc:
            # The site changes without notice: a reshaped frame is a clear 502, not a crash.
            self._note(f"a frame with keys {sorted(frame)[:8]} ({exc.__class__.__name__})")
            raise errors.UpstreamProtocolError(
                "chat.qwen.ai sent a frame of an unknown shape"
            ) from exc

    @property
    def usage(self) -> Usage | None:
        """The last usage figures (every frame repeats them: read once, at the end)."""
        if self._usage is None:
            return None
        try:
            return _usage(self._usage)
        except (TypeError, ValueError, AttributeError) as exc:
            self._note("a usage object of an unknown shape")
            raise errors.UpstreamProtocolError(
                "chat.qwen.ai sent a frame of an unknown shape"
            ) from exc

    def _frame(self, frame: dict[str, Any]) -> list[Event]:
        # Only these keys can make a frame an error: most frames skip the full check.
        if ("error" in frame or "success" in frame or "ret" in frame) and (
            err := business_error(frame)
        ) is not None:
            raise err
        if "response.created" in frame:
            created = frame["response.created"] or {}
            self.created_id = self.created_id or created.get("response_id")
            return []
        if not isinstance(frame.get("choices"), list) and "usage" not in frame:
            self._note(f"a frame with keys {sorted(frame)[:8]} (no choices list)")
        return self._choices(frame)

    def _note(self, what: str) -> None:
        if what not in self.unknown and len(self.unknown) < 5:
            self.unknown.append(what)

    def _choices(self, frame: dict[str, Any]) -> list[Event]:
        rid = frame.get("response_id")
        if rid:
            if self.response_id is None:
                self.response_id = rid
            elif rid != self.response_id:
                return []  # the other candidate
        usage = frame.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        out: list[Event] = []
        for choice in frame.get("choices") or ():
            delta = (choice or {}).get("delta")
            if not isinstance(delta, dict):
                keys = sorted(choice)[:8] if isinstance(choice, dict) else type(choice).__name__
                self._note(f"choices[].delta missing (choice keys {keys})")
                continue
            out.extend(self._delta(delta))
        return out

    def _delta(self, delta: dict[str, Any]) -> list[Event]:
        phase = delta.get("phase")
        if delta.get("status") == "finished" and phase in END_PHASES:
            self.finished = True
        content = delta.get("content")
        if content is not None and not isinstance(content, str):
            self._note(f"choices[].delta.content is a {type(content).__name__} (phase {phase})")
        content = content if isinstance(content, str) else ""
        extra = delta.get("extra") or {}
        if phase == "answer" or (phase is None and delta.get("role") == "assistant"):
            if content:
                self.answered = True
                return [TextDelta(content)]
            return []
        if phase == "think":
            return [ReasoningDelta(content)] if content else []
        if phase == "thinking_summary":
            thought = ((extra.get("summary_thought") or {}).get("content")) or []
            return self._summary(thought)
        if phase == "image_gen" and content:
            self.answered = True
            width, height = _size(extra.get("output_image_hw"))
            return [ImageOutput(content, width, height)]
        if phase == "image_edit_tool":
            return self._edited(extra.get("tool_result"))
        if extra.get("web_search_info"):
            sources = tuple(
                Source(str(s.get("url", "")), str(s.get("title", "")), str(s.get("snippet", "")))
                for s in extra["web_search_info"]
                if isinstance(s, dict) and s.get("url")
            )
            return [Citations(sources)] if sources else []
        return []

    def _edited(self, result: Any) -> list[Event]:
        """Pictures of an ``image_edit_tool`` frame: ``tool_result`` is a list of URLs or of
        objects carrying one (read leniently), each emitted once."""
        out: list[Event] = []
        for item in result if isinstance(result, list) else [result]:
            url = item.get("url") or item.get("image") if isinstance(item, Mapping) else item
            if isinstance(url, str) and url.startswith("http") and url not in self._pictures:
                self._pictures.add(url)
                self.answered = True
                out.append(ImageOutput(url))
        return out

    def _summary(self, items: list[Any]) -> list[Event]:
        """Emit only what is new in a cumulative list of thought paragraphs."""
        if not isinstance(items, list):
            raise TypeError("summary_thought.content is not a list")
        pieces: list[str] = []
        for index in range(self._thought_items, len(items)):
            text = str(items[index] or "")
            if index == self._thought_items:
                new = text[self._thought_tail :]
            else:
                new = "\n\n" + text
            pieces.append(new)
        if items and len(items) > self._thought_items:
            last = len(items) - 1
            self._thought_items, self._thought_tail = last, len(str(items[last] or ""))
        text = "".join(pieces)
        return [ReasoningDelta(text)] if text else []


def _usage(raw: dict[str, Any]) -> Usage:
    details = raw.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(raw.get("input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
        reasoning_tokens=int(details.get("reasoning_tokens") or 0),
    )


def _size(hw: Any) -> tuple[int | None, int | None]:
    """Read ``output_image_hw`` leniently: ``[h, w]``, ``[[h, w]]`` or ``"HxW"``."""
    try:
        if isinstance(hw, str):
            h, w = (int(x) for x in hw.lower().split("x"))
            return w, h
        if isinstance(hw, list) and hw and isinstance(hw[0], list):
            hw = hw[0]
        if isinstance(hw, list) and len(hw) == 2:
            return int(hw[1]), int(hw[0])
    except (TypeError, ValueError):
        pass
    return None, None


# The JSON calls /metrics names (upstream_seconds' ``call`` label); the rest are "other".
ENDPOINTS = (
    ("POST", "/api/v1/auths/signin", "signin"),
    ("GET", "/api/v1/auths", "auth_check"),
    ("GET", "/api/models", "models"),
    ("POST", "/api/v2/chats/new", "new_chat"),
    ("DELETE", "/api/v2/chats/", "delete_chat"),
)


def site(settings: Settings, profile: BrowserProfile | None = None) -> Site:
    """chat.qwen.ai as a browser page's ``fetch`` sees it (§16.1): the profile's header set on
    every call, ``Referer`` naming the page the call comes from, the token as Bearer and as the
    ``token`` cookie, the real status in ``x-actual-status-code``."""
    base = settings.upstream_url
    profile = profile or browser.load(settings.browser_profile, settings.web_version)

    def request_headers(path: str, chat_id: str | None) -> dict[str, str]:
        page = f"/c/{chat_id}" if chat_id else "/c/new-chat"
        headers = profile.headers(base, base + page)
        if path == REFRESH_PATH:  # without it auth.qwen.ai answers "Missing origin" (S2)
            headers |= {"x-request-origin": base, "Content-Type": "application/json"}
        return headers

    return Site(
        base,
        {},
        _credentials,
        FrameParser,
        business_error,
        page_error,
        request_headers=request_headers,
        status_header="x-actual-status-code",
        identity=identity,
        profile=profile.name,
        name=NAME,
        endpoints=ENDPOINTS,
    )


def identity(token: str) -> str:
    """Whose cookie jar: the account's user id (stable across refreshed tokens)."""
    user = jwt_claim(token, "id")
    return "user:" + user if isinstance(user, str) and user else "token:" + digest(token)


def _credentials(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Cookie": f"token={token}"}
