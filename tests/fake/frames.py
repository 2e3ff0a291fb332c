"""Script steps and frame builders of the fake chat.qwen.ai (SSE shapes of §8)."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

COMPLETIONS = "/api/v2/chat/completions"
DEFAULT_TEXT = "Hello from the qwenfree fake upstream."
DEFAULT_THINKING = "The user greets me. I should greet back."
DEFAULT_SEARCH = {
    "url": "https://example.com/qwenfree",
    "title": "qwenfree fake search result",
    "snippet": "A search result served by the fake upstream.",
}
NEEDS_FEATURE_CONFIG = (
    "RequestValidationError: the message needs extra and feature_config "
    "{output_schema: phase, thinking_enabled: bool}"
)
MUST_THINK = "invalid_input: thinking must be enabled for this model"
CHAT_GONE = "This chat has been deleted. Please start a new chat to continue."
MODERATION = "内容安全警告：输入数据可能包含不适当的内容！"
QUOTA = (
    "Allocated quota exceeded, please increase your quota limit. For details, see: "
    "https://help.aliyun.com/zh/model-studio/error-code#token-limit"
)
# A 1x1 PNG, served for generated-image URLs so a gateway can fetch them.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg"
    "=="
)


def _now() -> int:
    return int(time.time())


def _uid() -> str:
    return str(uuid.uuid4())


# --------------------------------------------------------------------------- script steps


@dataclass
class Frame:
    """One SSE event ``data: <json>``, written after ``delay`` s.

    The server fills in what a script cannot know in advance: ``response.created`` gets the chat,
    parent and response ids; a choices frame without ``response_id`` gets the current one.
    """

    obj: dict[str, Any]
    delay: float = 0.0


@dataclass
class Raw:
    """Bytes written verbatim in one write after ``delay`` s (half a frame, a split char)."""

    data: bytes
    delay: float = 0.0


@dataclass
class Stall:
    """Pause mid-stream; reset()/stop() end it early; a client hanging up is a disconnect."""

    seconds: float


@dataclass
class Drop:
    """Reset the connection right now (RST, no terminating chunk)."""


@dataclass
class SavedImage:
    """Writes nothing: stores a generated picture's URL in the chat only (read back with
    ``GET /api/v2/chats/<id>``), as when a t2i stream ends without the URL (§16.5)."""

    url: str | None = None  # None: a fresh URL on this fake


@dataclass
class Script:
    """How to answer one request: SSE ``steps``, or a non-SSE ``body`` sent with Content-Length.

    ``steps`` may be a generator (see ``infinite``); such a Script can be played only once.
    """

    steps: Iterable[Frame | Raw | Stall | Drop | SavedImage] = field(default_factory=list)
    # "chunked": one chunk per write; "close": no length, the connection's EOF ends the body.
    framing: str = "chunked"
    crlf: bool = False
    status: int = 200
    content_type: str = "text/event-stream"
    headers: dict[str, str] | None = None
    body: bytes | None = None
    first_byte_delay: float = 0.0


def _encode(obj: dict[str, Any], crlf: bool = False) -> bytes:
    nl = b"\r\n" if crlf else b"\n"
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + nl + nl


def _with_rid(obj: dict[str, Any], rid: str) -> dict[str, Any]:
    """Return obj with a top-level response_id after choices (where the real server puts it)."""
    if "choices" not in obj or "response_id" in obj:
        return obj
    out: dict[str, Any] = {"choices": obj["choices"], "response_id": rid}
    out.update(obj)
    return out


# --------------------------------------------------------------------------- frame builders


class _Tokens:
    """Cumulative usage, as every upstream delta frame carries running totals."""

    def __init__(self, input_tokens: int) -> None:
        self.input, self.reasoning, self.text = input_tokens, 0, 0

    def usage(self) -> dict[str, Any]:
        out = self.reasoning + self.text
        return {
            "input_tokens": self.input,
            "output_tokens": out,
            "total_tokens": self.input + out,
            "output_tokens_details": {"reasoning_tokens": self.reasoning, "text_tokens": out},
        }


def _created(index: str = "0", rid: str | None = None) -> Frame:
    # chat_id / parent_id (and response_id unless given) are filled in by the server when written.
    inner = {"response_index": index} | ({"response_id": rid} if rid else {})
    return Frame({"response.created": inner})


def _delta(
    phase: str,
    content: str,
    tokens: _Tokens | None,
    *,
    status: str = "typing",
    role: str = "assistant",
    name: str | None = None,
    extra: dict[str, Any] | None = None,
    rid: str | None = None,
) -> dict[str, Any]:
    delta: dict[str, Any] = {"role": role} | ({"name": name} if name else {})
    delta |= {"content": content, "phase": phase, "status": status}
    if extra is not None:
        delta["extra"] = extra
    obj: dict[str, Any] = {"choices": [{"delta": delta}]} | ({"response_id": rid} if rid else {})
    if tokens is not None:
        obj["usage"] = tokens.usage()
    obj["timestamp"] = _now()
    return obj


def _finished(rid: str | None = None) -> Frame:
    """The closing answer frame: no usage, no timestamp, different key order (as captured)."""
    delta = {"content": "", "role": "assistant", "status": "finished", "phase": "answer"}
    return Frame({"choices": [{"delta": delta}]} | ({"response_id": rid} if rid else {}))


def _split(text: str, n: int = 3) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?。])\s+", text.strip()) if s]


def _thinking_frames(
    thinking: str | list[str], style: str, tokens: _Tokens, delay: float
) -> list[Frame]:
    frames: list[Frame] = []
    if style == "think":  # 2025 models: incremental reasoning text in delta.content
        for piece in _split("".join(thinking)):
            tokens.reasoning += 1
            frames.append(Frame(_delta("think", piece, tokens), delay))
        return frames + [Frame(_delta("think", "", None, status="finished"))]
    items = thinking if isinstance(thinking, list) else _sentences(thinking)
    for i in range(1, len(items) + 1):  # 2026 summaries: every frame resends the whole list so far
        tokens.reasoning += 1
        extra = {
            "summary_title": {"content": ["Understanding the request"]},
            "summary_thought": {"content": items[:i]},
        }
        frames.append(Frame(_delta("thinking_summary", "", tokens, extra=extra), delay))
    return frames + [Frame(_delta("thinking_summary", "", None, status="finished"))]


def _search_delta(results: list[dict[str, str]], tokens: _Tokens) -> dict[str, Any]:
    info = []
    for r in results:
        info.append(
            {**r, "hostname": r.get("hostname") or urlsplit(r.get("url", "")).hostname or ""}
        )
    extra = {"web_search_info": info}
    return _delta(
        "web_search", "", tokens, role="function", name="web_search", status="finished", extra=extra
    )


def _answer_frames(
    pieces: list[str], tokens: _Tokens, delay: float = 0.0, rid: str | None = None
) -> list[Frame]:
    # Empty-content typing frames around the text are common upstream; gateways must cope.
    frames = [Frame(_delta("answer", "", tokens, rid=rid), delay)]
    for piece in pieces:
        tokens.text += 1
        frames.append(Frame(_delta("answer", piece, tokens, rid=rid), delay))
    return frames + [Frame(_delta("answer", "", tokens, rid=rid), delay)]
