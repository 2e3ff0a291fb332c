"""A fake chat.qwen.ai: a real HTTP server on loopback that speaks the web chat's protocol.

Standard library only, so it runs anywhere. Two uses:

* tests: ``with FakeUpstream() as fake: fake.enqueue(answer("Hi")); ...`` then point the gateway at
  ``fake.url`` and assert on ``fake.requests`` / ``fake.completions()``. Each completion pops one
  queued ``Script`` (frames, delays, raw byte cuts, stalls, drops, error bodies); an empty queue
  gives a default reply.
* trying the gateway offline: ``python tests/fake_upstream.py --port 9100`` serves default replies
  (sign in as demo@example.com / demo-password, or send any bearer token not starting with
  "bad" or "expired").

Shapes follow the protocol reference (upstream-chat-qwen-ai.md §6-§11). Uploads too: getstsToken
(v1 flat, v2 wrapped) issues per-file credentials, ``PUT /oss/<bucket>/<key>`` accepts only the
issued security token with a valid OSS V1 signature, documents are parsed (``fake.parse_*``), a
message may reference only files its account uploaded, and ``t2v`` answers JSON with a task
polled at ``/api/v1/tasks/status/<id>`` (``fake.task_*``).
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import hmac
import json
import re
import select
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import zip_longest
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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
class Script:
    """How to answer one request: SSE ``steps``, or a non-SSE ``body`` sent with Content-Length.

    ``steps`` may be a generator (see ``infinite``); such a Script can be played only once.
    """

    steps: Iterable[Frame | Raw | Stall | Drop] = field(default_factory=list)
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


def answer(
    text: str = DEFAULT_TEXT,
    *,
    pieces: list[str] | None = None,
    thinking: str | list[str] | None = None,
    thinking_style: str = "summary",
    delay: float = 0.0,
    input_tokens: int = 1049,
    search: list[dict[str, str]] | None = None,
    image_url: str | None = None,
    framing: str = "chunked",
    crlf: bool = False,
) -> Script:
    """A normal stream: created, [thinking], [web_search], [image_gen], answer pieces, finished."""
    tokens = _Tokens(input_tokens)
    frames = [_created()]
    if thinking:
        frames += _thinking_frames(thinking, thinking_style, tokens, delay)
    if search:
        frames.append(Frame(_search_delta(search, tokens), delay))
    if image_url:
        extra = {"output_image_hw": [[1328, 1328]]}
        frames.append(Frame(_delta("image_gen", image_url, tokens, extra=extra), delay))
        frames.append(Frame(_delta("image_gen", "", None, status="finished")))
    frames += _answer_frames(pieces if pieces is not None else _split(text), tokens, delay)
    return Script(frames + [_finished()], framing=framing, crlf=crlf)


def dual_candidates(text: str = DEFAULT_TEXT, other: str | None = None) -> Script:
    """Two candidates (response_index 0 and 1) with interleaved frames; only candidate 0 counts."""
    rid1 = _uid()
    mine = _answer_frames(_split(text), _Tokens(1049))
    theirs = _answer_frames(_split(other or "Candidate one says: " + text), _Tokens(1049), rid=rid1)
    frames = [_created("0"), _created("1", rid1)]
    for pair in zip_longest(mine, theirs):
        frames += [f for f in pair if f is not None]
    return Script(frames + [_finished(rid1), _finished()])


def with_heartbeats(text: str = DEFAULT_TEXT) -> Script:
    """An answer interleaved with ``: keepalive`` comments and bare ``data: [heartbeat]`` lines."""
    beats = [Raw(b": keepalive\n\n"), Raw(b"data: [heartbeat]\n\n")]
    steps: list[Frame | Raw | Stall | Drop] = []
    for i, step in enumerate(answer(text).steps):
        steps += [step, beats[i % 2]]
    return Script(steps)


def split_utf8(
    text: str = "Paris — 巴黎 — café 🌍 ok",
    *,
    crlf: bool = False,
    stride: int = 41,
    delay: float = 0.003,
) -> Script:
    """An answer written as raw pieces cut mid-line, mid-CRLF and inside multibyte characters."""
    rid = _uid()  # baked into the raw bytes, so the server cannot fill it in later
    first, *rest = list(answer(text).steps)
    assert isinstance(first, Frame)
    first.obj["response.created"]["response_id"] = rid
    blob = b"".join(_encode(_with_rid(s.obj, rid), crlf) for s in rest if isinstance(s, Frame))
    cuts = set(range(stride, len(blob), stride))
    for needle, offset in (("黎", 1), ("é", 1), ("🌍", 2), ("\r\n", 1)):
        at = blob.find(needle.encode())
        if at >= 0:
            cuts.add(at + offset)
    bounds = [0, *sorted(cuts), len(blob)]
    return Script(
        [first] + [Raw(blob[a:b], delay) for a, b in zip(bounds, bounds[1:], strict=False)],
        crlf=crlf,
    )


def _json(status: int, obj: Any, headers: dict[str, str] | None = None) -> Script:
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return Script(status=status, content_type="application/json", headers=headers, body=body)


def business_error(code: str, details: str, **extra: Any) -> Script:
    """HTTP 200 JSON ``{"success":false,"request_id","data":{"code","details",...}}``."""
    return _json(
        200,
        {
            "success": False,
            "request_id": _uid(),
            "data": {"code": code, "details": details, **extra},
        },
    )


def rate_limited(num: int = 4) -> Script:
    """The daily-quota RateLimited envelope (HTTP 200, JSON, not SSE)."""
    template = (
        "You have reached the daily usage limit. Please wait {{num}} hours before trying again."
    )
    return business_error(
        "RateLimited",
        "You've reached the upper limit for today's usage.",
        template=template,
        num=num,
    )


def waf_json() -> Script:
    """The anti-bot punish JSON (HTTP 200)."""
    return _json(
        200,
        {
            "ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"],
            "data": {"url": "https://chat.qwen.ai/_____tmd_____/punish?x5secdata=xyz"},
        },
    )


def waf_html(status: int = 200) -> Script:
    """The Aliyun WAF slider-captcha page."""
    url = "https://chat.qwen.ai/_____tmd_____/punish?x5secdata=xyz&x5step=1"
    page = (
        f'<!doctypehtml><html><head><meta charset="utf-8"><title>安全验证</title></head><body>'
        f'<div id="aliyun_waf_aa"></div><script>window.location.replace("{url}");</script>'
        "</body></html>"
    )
    return Script(status=status, content_type="text/html; charset=utf-8", body=page.encode())


def http_error(
    status: int,
    body: bytes = b"",
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Script:
    """A plain HTTP error (401, 429 with Retry-After via headers, 5xx ...)."""
    return Script(status=status, content_type=content_type, headers=headers, body=body)


def empty_stream(created: bool = True) -> Script:
    """HTTP 200 SSE with no content at all: the usual symptom of a rate-limited account."""
    return Script([_created()] if created else [])


def thinking_only(thinking: str | list[str] = DEFAULT_THINKING) -> Script:
    """Thinking frames then EOF, no answer (a quota cut on a thinking model)."""
    return Script([_created(), *_thinking_frames(thinking, "summary", _Tokens(1049), 0.0)])


def in_stream_error(
    code: str = "internal_error", details: str | None = None, after: list[str] | None = None
) -> Script:
    """Optional answer pieces, then an in-stream ``{"error":{code,details}}`` frame and EOF."""
    details = details or (MODERATION if code == "data_inspection_failed" else QUOTA)
    steps = [_created()] + (_answer_frames(after, _Tokens(1049))[1:-1] if after else [])
    return Script(
        steps + [Frame({"error": {"code": code, "details": details}, "request_id": _uid()})]
    )


def drop_after(text_pieces: list[str], partial: bool = False) -> Script:
    """Some answer frames (and optionally half of the next one), then a connection reset."""
    steps: list[Frame | Raw | Stall | Drop] = [
        _created(),
        *_answer_frames(text_pieces, _Tokens(1049))[1:-1],
    ]
    if partial:
        steps.append(Raw(b'data: {"choices":[{"delta":{"role":"assistant","content":"trunc'))
    return Script(steps + [Drop()])


def stall_after(text_pieces: list[str], seconds: float, rest: list[str] | None = None) -> Script:
    """Some answer frames, a stall, then the remaining pieces and the normal end."""
    tokens = _Tokens(1049)
    head = _answer_frames(text_pieces, tokens)[:-1]
    tail = _answer_frames(rest or [], tokens)[1:]
    return Script([_created(), *head, Stall(seconds), *tail, _finished()])


def slow_first_byte(seconds: float, text: str = DEFAULT_TEXT) -> Script:
    """A normal answer whose status line is sent only after ``seconds``."""
    script = answer(text)
    script.first_byte_delay = seconds
    return script


def infinite(delay: float = 0.05, max_seconds: float = 60.0) -> Script:
    """Answer frames every ``delay`` s until the client hangs up (or max_seconds, or reset)."""

    def steps() -> Iterable[Frame]:
        yield _created()
        tokens, n = _Tokens(1049), 0
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline:
            n += 1
            tokens.text += 1
            yield Frame(_delta("answer", f"tick {n} ", tokens), delay)
        yield _finished()

    return Script(steps())


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Recorded:
    """One request as received (query keeps the first value of each key; header keys lower-case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any


@dataclass
class Chat:
    """A server-side chat; ``nodes`` maps message ids (user and assistant) to message dicts."""

    id: str
    title: str = "New Chat"
    chat_type: str = "t2t"
    models: list[str] = field(default_factory=list)
    created_at: int = field(default_factory=_now)
    updated_at: int = field(default_factory=_now)
    deleted: bool = False
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def response_ids(self) -> list[str]:
        return [k for k, node in self.nodes.items() if node["role"] == "assistant"]

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
            "chat_type": self.chat_type,
        }


@dataclass
class _Ctx:
    """Per-response state while a script is written."""

    chat: Chat | None
    user_id: str
    response_id: str
    model: str
    release: threading.Event
    gen: int


class _Aborted(Exception):
    """reset() or stop() asked a handler to give up."""


# An endpoint's answer: a Script, plus the request context when it streams a completion.
_Reply = Script | tuple[Script, _Ctx]

BUCKET = "qwen-webui-prod"


@dataclass
class StoredFile:
    """A file the fake issued upload credentials for; ``data`` is set by a correctly signed PUT.

    ``parse`` is None until a document parse is requested, then pending/success/failed.
    """

    id: str
    owner: str  # the token that asked for the credentials
    name: str
    size: int
    filetype: str
    key: str  # the object key, "<user id>/<file id>_<name>"
    url: str
    key_id: str = field(default_factory=lambda: "STS.fake" + uuid.uuid4().hex[:16])
    secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    security_token: str = field(default_factory=lambda: "CAIS" + uuid.uuid4().hex)
    data: bytes | None = None
    content_type: str = ""
    parse: str | None = None
    pending: int = 0


@dataclass
class VideoTask:
    """A t2v task: ``polls`` more status checks say running, then ``outcome``."""

    id: str
    owner: str
    prompt: str
    size: str | None
    polls: int
    outcome: str


def _is_video(body: dict[str, Any]) -> bool:
    msgs = body.get("messages")
    first = msgs[0] if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict) else {}
    return first.get("chat_type") == "t2v"


def oss_signature(secret: str, req: Recorded, resource: str) -> str:
    """The OSS V1 signature a PUT must carry (the fake's own rendering of Aliyun's recipe)."""
    h = req.headers
    lines = [req.method, h.get("content-md5", ""), h.get("content-type", ""), h.get("date", "")]
    lines += [f"{k}:{v.strip()}" for k, v in sorted(h.items()) if k.startswith("x-oss-")]
    lines.append(resource)
    mac = hmac.new(secret.encode(), "\n".join(lines).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _oss_error(status: int, code: str, message: str) -> Script:
    body = f'<?xml version="1.0"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return http_error(status, body.encode(), "application/xml")


# id, display name, thinking, vision (+document, video), think_skip.enable, chat types, context.
# think_skip False (qwen3.8) means thinking is mandatory: thinking_enabled=false is rejected.
_MODEL_TABLE = [
    ("qwen3-max", "Qwen3-Max", True, False, True, "t2t search t2i", 262144),
    ("qwen3.7-plus", "Qwen3.7-Plus", True, True, True, "t2t search t2i t2v image_edit", 1000000),
    ("qwen3-coder-plus", "Qwen3-Coder", False, False, True, "t2t", 1048576),
    ("qwen3.8-max-preview", "Qwen3.8-Max-Preview", True, False, False, "t2t search", 262144),
]


def _model(
    mid: str, name: str, thinking: bool, vision: bool, skip: bool, types: str, context: int
) -> dict[str, Any]:
    caps = {"vision": vision, "document": vision, "video": vision, "audio": False}
    caps |= {"citations": True, "thinking": thinking, "thinking_budget": thinking}
    meta = {
        "short_description": f"{name} (fake)",
        "max_context_length": context,
        "max_generation_length": 32768,
        "max_thinking_generation_length": 81920 if thinking else 0,
        "capabilities": caps,
        "abilities": {k: int(v) for k, v in caps.items()} | {"mcp": 1},
        "chat_type": types.split(),
        "modality": ["text", "image"] if vision else ["text"],
        "think_skip": {"enable": skip},
    }
    info = {"id": mid, "name": name, "is_active": True, "created_at": 1780000000, "meta": meta}
    return {"id": mid, "name": name, "object": "model", "owned_by": "qwen", "info": info}


def default_models() -> list[dict[str, Any]]:
    """Return a fresh copy of the fake's model list (tests may edit it)."""
    return [_model(*row) for row in _MODEL_TABLE]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(user_id: str | None = None, exp: int | None = None) -> str:
    """Make a JWT-shaped token: payload {id, last_password_change, exp}, fake HS256 signature."""
    now = _now()
    head = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = {
        "id": user_id or _uid(),
        "last_password_change": now - 86400,
        "exp": exp or now + 30 * 86400,
    }
    body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{head}.{body}.{_b64url(hashlib.sha256((head + body).encode()).digest())}"


def _jwt_payload(token: str) -> dict[str, Any] | None:
    try:
        part = token.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _user(user_id: str, email: str) -> dict[str, Any]:
    return {"id": user_id, "email": email, "name": email.split("@")[0], "role": "user"}


_ROUTES: list[tuple[str, re.Pattern[str], str, bool]] = [
    (m, re.compile(p), name, auth)
    for m, p, name, auth in [
        ("GET", r"/api/models|/api/v2/models/?", "_models", False),
        ("POST", r"/api/v1/auths/signin", "_signin", False),
        ("GET", r"/api/v1/auths/?", "_me", True),
        ("POST", r"/api/v2/chats/new", "_new_chat", True),
        ("POST", COMPLETIONS, "_completion", True),
        ("GET", r"/api/v2/chats/?", "_list_chats", True),
        ("GET", r"/api/v2/chats/(?P<cid>[^/]+)", "_get_chat", True),
        ("DELETE", r"/api/v2/chats/(?P<cid>[^/]+)", "_delete_chat", True),
        ("GET", r"/output/.+", "_image", False),
        ("POST", r"/api/(?P<v>v[12])/files/getstsToken", "_sts", True),
        ("PUT", r"/oss/(?P<bucket>[^/]+)/(?P<key>.+)", "_oss_put", False),
        ("POST", r"/api/v2/files/parse", "_parse", True),
        ("POST", r"/api/v2/files/parse/status", "_parse_status", True),
        ("GET", r"/api/v1/tasks/status/(?P<tid>[^/]+)", "_task_status", True),
    ]
]


class FakeUpstream:
    """The fake server plus everything tests inspect or tweak (public attributes are plain data)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None
        self._release = threading.Event()
        self._gen = 0
        self.active_streams = 0
        self._set_defaults()

    def _set_defaults(self) -> None:
        self.requests: list[Recorded] = []
        self.chats: dict[str, Chat] = {}
        self.deleted_chats: list[str] = []
        self.disconnects = 0
        self.finished_streams = 0
        self.valid_tokens: set[str] | None = None
        self.accounts: dict[str, str] = {"demo@example.com": "demo-password"}
        self.models: list[dict[str, Any]] = default_models()
        self.default_text = DEFAULT_TEXT
        # Completion bodies larger than this (bytes) get the anti-bot punish JSON, as the real
        # WAF answers bodies above ~128 KB; None = no limit.
        self.max_body: int | None = None
        self._queues: dict[str, deque[Script]] = {}
        self._emails: dict[str, str] = {}
        # Uploads (§6.5): files by id. Document parsing answers "pending" parse_pending times,
        # then parse_outcome. getstsToken answers flat on v1 and wrapped on v2 unless changed.
        self.files: dict[str, StoredFile] = {}
        self.parse_pending = 1
        self.parse_outcome = "success"
        self.sts_shapes = {"v1": "flat", "v2": "wrapped"}
        # Video tasks (§9.3): "running" for task_polls status checks, then task_outcome:
        # "success", "failed" or "empty" (success without a video URL).
        self.tasks: dict[str, VideoTask] = {}
        self.task_polls = 1
        self.task_outcome = "success"

    # -- lifecycle

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]!s}:{self._server.server_port}"

    def start(self) -> FakeUpstream:
        """Serve in a daemon thread; return self."""
        # A short poll interval keeps stop() (and so every test teardown) fast.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.02)
        self._thread = threading.Thread(target=serve, name="fake-upstream", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release stalled handlers and shut the server down."""
        self._release.set()
        if self._thread:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def reset(self) -> None:
        """Forget queues, requests, chats, counters; restore defaults; end stalled streams."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()
            self._gen += 1
            self._set_defaults()

    def __enter__(self) -> FakeUpstream:
        return self if self._thread else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection

    def enqueue(self, *scripts: Script, path: str = COMPLETIONS) -> None:
        """Queue scripts (FIFO); for another ``path`` a script replaces its reply, before auth."""
        with self._lock:
            self._queues.setdefault(path, deque()).extend(scripts)

    def enqueue_for(self, token: str, *scripts: Script) -> None:
        """Queue completion scripts for one bearer token; they play before the shared queue."""
        self.enqueue(*scripts, path="token:" + token)

    def _pop(self, path: str) -> Script | None:
        with self._lock:
            queue = self._queues.get(path)
            return queue.popleft() if queue else None

    def completions(self) -> list[Recorded]:
        """Recorded POSTs to /api/v2/chat/completions."""
        return [r for r in list(self.requests) if r.method == "POST" and r.path == COMPLETIONS]

    def last_completion(self) -> Recorded:
        """The latest recorded completion request (AssertionError if none)."""
        found = self.completions()
        assert found, "the fake upstream received no completion request"
        return found[-1]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll predicate until true or timeout; return its last value."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def _stream_started(self) -> None:
        with self._lock:
            self.active_streams += 1

    def _stream_ended(self, gen: int, outcome: str) -> None:
        with self._lock:
            self.active_streams -= 1
            if gen == self._gen:  # a stream cut by reset() must not count against the next test
                self.disconnects += outcome == "disconnect"
                self.finished_streams += outcome == "finished"

    # -- auth

    @staticmethod
    def _token(req: Recorded) -> str | None:
        auth = req.headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and auth[7:].strip():
            return auth[7:].strip()
        for part in req.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == "token" and value:
                return value
        return None

    def _token_ok(self, token: str | None) -> bool:
        if not token:
            return False
        if self.valid_tokens is not None:
            return token in self.valid_tokens
        exp = (_jwt_payload(token) or {}).get("exp")
        return not token.startswith(("bad", "expired")) and not (
            isinstance(exp, int) and exp < _now()
        )

    # -- endpoints: each returns a Script (JSON replies are Scripts with a body)

    def _models(self, req: Recorded, m: re.Match[str]) -> Script:
        return _json(200, {"data": self.models})

    def _signin(self, req: Recorded, m: re.Match[str]) -> Script:
        body = req.json if isinstance(req.json, dict) else {}
        email, password = str(body.get("email")), body.get("password")
        plain = self.accounts.get(email)
        if plain is None or password != hashlib.sha256(plain.encode()).hexdigest():
            return _json(400, {"detail": "incorrect"})
        user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-qwen:" + email))
        token = mint_token(user_id)
        with self._lock:
            self._emails[token] = email
            if self.valid_tokens is not None:
                self.valid_tokens.add(token)
        cookie = {"Set-Cookie": f"token={token}; Path=/; HttpOnly; SameSite=Lax"}
        signed_in = _user(user_id, email) | {"token": token, "token_type": "Bearer"}
        return _json(200, signed_in, headers=cookie)

    def _me(self, req: Recorded, m: re.Match[str]) -> Script:
        token = self._token(req) or ""
        email = self._emails.get(token, "user@example.com")
        user_id = (_jwt_payload(token) or {}).get("id") or str(
            uuid.uuid5(uuid.NAMESPACE_URL, token)
        )
        return _json(200, _user(user_id, email))

    def _new_chat(self, req: Recorded, m: re.Match[str]) -> Script:
        body = req.json if isinstance(req.json, dict) else {}
        chat = Chat(
            id=_uid(),
            title=body.get("title") or "New Chat",
            chat_type=body.get("chat_type") or "t2t",
            models=list(body.get("models") or []),
        )
        with self._lock:
            self.chats[chat.id] = chat
        return _json(200, {"success": True, "request_id": _uid(), "data": {"id": chat.id}})

    def _live_chat(self, chat_id: str | None) -> Chat | None:
        chat = self.chats.get(chat_id or "")
        return chat if chat and not chat.deleted else None

    def _list_chats(self, req: Recorded, m: re.Match[str]) -> Script:
        # Newest first; the sort is stable, so reversing first orders same-second ties by age.
        newest = sorted(reversed(list(self.chats.values())), key=lambda c: -c.updated_at)
        live = [c.summary() for c in newest if not c.deleted]
        return _json(200, {"success": True, "request_id": _uid(), "data": live})

    def _get_chat(self, req: Recorded, m: re.Match[str]) -> Script:
        chat = self._live_chat(m["cid"])
        if chat is None:
            return business_error("Not_Found", "chat not found")
        nodes = {k: dict(v) for k, v in chat.nodes.items()}
        history = {"messages": nodes, "currentId": next(reversed(nodes), None)}
        data = chat.summary() | {
            "models": chat.models,
            "chat": {"history": history, "messages": list(nodes.values())},
        }
        return _json(200, {"success": True, "request_id": _uid(), "data": data})

    def _delete_chat(self, req: Recorded, m: re.Match[str]) -> Script:
        chat = self._live_chat(m["cid"])
        if chat is None:
            return business_error("Not_Found", "chat not found")
        with self._lock:
            chat.deleted = True
            self.deleted_chats.append(chat.id)
        return _json(200, {"success": True, "request_id": _uid(), "data": {"status": True}})

    def _image(self, req: Recorded, m: re.Match[str]) -> Script:
        # Real CDN URLs only work with their signed ?key=..., so a stripped URL fails here too.
        if "key" not in req.query:
            return http_error(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
        return Script(content_type="image/png", body=PNG)

    def _completion(self, req: Recorded, m: re.Match[str]) -> _Reply:
        if self.max_body is not None and len(req.body) > self.max_body:
            return waf_json()
        chat = self._live_chat(req.query.get("chat_id"))
        if chat is None:
            return business_error("Not_Found", CHAT_GONE)
        body = req.json if isinstance(req.json, dict) else None
        problem = self._invalid(body, chat) or self._bad_files(req, body)
        if problem:
            return problem
        assert body is not None
        msg, model = body["messages"][0], self._find_model(body["model"])
        assert model is not None
        user_id = _uid()
        with self._lock:
            text = msg.get("content") if isinstance(msg.get("content"), str) else ""
            if chat.title == "New Chat" and text:
                chat.title = text[:40]
            chat.nodes[user_id] = {
                "id": user_id,
                "parentId": body.get("parent_id", body.get("parentId")),
                "childrenIds": [],
                "role": "user",
                "content": msg.get("content"),
                "chat_type": msg.get("chat_type"),
                "timestamp": _now(),
            }
            chat.updated_at = _now()
        script = self._pop("token:" + (self._token(req) or "")) or self._pop(COMPLETIONS)
        if script is None and msg.get("chat_type") == "t2v":
            return self._start_video(req, chat, msg, model["id"])
        script = script or self._default_reply(msg)
        return script, _Ctx(chat, user_id, _uid(), model["id"], self._release, self._gen)

    def _find_model(self, model_id: Any) -> dict[str, Any] | None:
        return next((m for m in self.models if m.get("id") == model_id), None)

    def _invalid(self, body: dict[str, Any] | None, chat: Chat) -> Script | None:
        """Validate a completion body in the order the real server seems to."""
        if body is None:
            return business_error("Bad_Request", "RequestValidationError: expected a JSON object")
        if body.get("chat_id", body.get("chatId")) != chat.id:
            return business_error("Bad_Request", "chat_id in the body does not match the query")
        wants_stream = not _is_video(body)  # t2v alone is sent with stream:false (§9.3)
        if body.get("stream") is not wants_stream:
            return business_error("Bad_Request", "Internal error")
        msgs = body.get("messages")
        if not isinstance(msgs, list) or len(msgs) != 1 or not isinstance(msgs[0], dict):
            many = isinstance(msgs, list) and len(msgs) > 1
            return business_error(
                "Bad_Request", "Invalid input too many messages" if many else "Invalid input"
            )
        msg, fc = msgs[0], msgs[0].get("feature_config")
        if (
            not isinstance(msg.get("extra"), dict)
            or not isinstance(fc, dict)
            or fc.get("output_schema") != "phase"
            or not isinstance(fc.get("thinking_enabled"), bool)
        ):
            return business_error("Bad_Request", NEEDS_FEATURE_CONFIG)
        if msg.get("chat_type") == "image_gen":
            return business_error("Bad_Request", "Internal error")
        model = self._find_model(body.get("model"))
        if model is None:
            return business_error("Not_Found", "Model not found")
        must_think = model["info"]["meta"].get("think_skip", {}).get("enable") is False
        if must_think and not fc["thinking_enabled"]:
            return business_error("Bad_Request", MUST_THINK)
        parent = body.get("parent_id", body.get("parentId"))
        if parent is not None and parent not in chat.response_ids():
            return business_error("PARENT_NOT_FOUND", f"parent message {parent} not found")
        return None

    def _default_reply(self, msg: dict[str, Any]) -> Script:
        # System messages are not honoured upstream: the stream opens, then ends without an answer.
        if msg.get("role", "user") != "user":
            return empty_stream()
        thinking = DEFAULT_THINKING if msg["feature_config"]["thinking_enabled"] else None
        chat_type = msg.get("chat_type") or "t2t"
        if chat_type in ("t2i", "image_edit"):
            image_url = f"{self.url}/output/{chat_type}/{_uid()}.png?key=abc"
            return answer("", thinking=thinking, image_url=image_url)
        search = [DEFAULT_SEARCH] if chat_type == "search" else None
        return answer(self.default_text, thinking=thinking, search=search)

    def _fill(self, obj: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
        """Fill in this request's ids; remember created responses and their answer text."""
        if "response.created" in obj:
            given = obj["response.created"] or {}
            index = given.get("response_index", "0")
            rid = given.get("response_id") or (ctx.response_id if index == "0" else _uid())
            if index == "0":
                ctx.response_id = rid
            # Register before the write: a fast follow-up may already name it as its parent.
            self._add_response(ctx, rid, index)
            chat_id = ctx.chat.id if ctx.chat else ""
            ids = {"chat_id": chat_id, "parent_id": ctx.user_id, "response_id": rid}
            return {"response.created": ids | {"response_index": index} | given}
        obj = _with_rid(obj, ctx.response_id)
        try:
            delta = obj["choices"][0]["delta"]
        except (KeyError, IndexError, TypeError):
            return obj
        node = ctx.chat.nodes.get(obj.get("response_id", "")) if ctx.chat else None
        text = delta.get("content") if delta.get("phase") in ("answer", "image_gen") else None
        if node is not None and isinstance(text, str):
            node["content"] += text
        return obj

    def _add_response(self, ctx: _Ctx, rid: str, index: str) -> None:
        if ctx.chat is None:
            return
        with self._lock:
            ctx.chat.nodes[rid] = {
                "id": rid,
                "parentId": ctx.user_id,
                "childrenIds": [],
                "role": "assistant",
                "content": "",
                "model": ctx.model,
                "response_index": index,
                "timestamp": _now(),
            }
            user = ctx.chat.nodes.get(ctx.user_id)
            if user is not None:
                user["childrenIds"].append(rid)

    # -- files and video tasks (§6.5, §6.6, §9.3)

    def _user_id(self, req: Recorded) -> str:
        token = self._token(req) or ""
        return str((_jwt_payload(token) or {}).get("id") or uuid.uuid5(uuid.NAMESPACE_URL, token))

    def _sts(self, req: Recorded, m: re.Match[str]) -> Script:
        body = req.json if isinstance(req.json, dict) else {}
        name, size, kind = body.get("filename"), str(body.get("filesize", "")), body.get("filetype")
        if not isinstance(name, str) or not name or not size.isdigit() or not kind:
            return business_error("Bad_Request", "filename, filesize and filetype are required")
        fid = _uid()
        key = f"{self._user_id(req)}/{fid}_{name}"
        expires = _now() + 3600
        url = f"{self.url}/oss/{BUCKET}/{key}?Expires={expires}&OSSAccessKeyId=LTAIfake&Signature=x"
        stored = StoredFile(fid, self._token(req) or "", name, int(size), str(kind), key, url)
        with self._lock:
            self.files[fid] = stored
        creds = {
            "access_key_id": stored.key_id,
            "access_key_secret": stored.secret,
            "security_token": stored.security_token,
            "file_url": url,
            "file_path": key,
            "file_id": fid,
            "bucketname": BUCKET,
            "region": "oss-ap-southeast-1",
            "endpoint": "oss-ap-southeast-1.aliyuncs.com",
        }
        if self.sts_shapes.get(m["v"]) == "flat":
            return _json(200, creds)
        return _json(200, {"success": True, "request_id": _uid(), "data": creds})

    def _oss_put(self, req: Recorded, m: re.Match[str]) -> Script:
        """Accept an upload only with the issued security token and a valid V1 signature."""
        key = unquote(m["key"])
        stored = next((f for f in list(self.files.values()) if f.key == key), None)
        if stored is None or m["bucket"] != BUCKET:
            return _oss_error(403, "AccessDenied", "No credentials were issued for this object.")
        if req.headers.get("x-oss-security-token") != stored.security_token:
            return _oss_error(403, "InvalidSecurityToken", "The security token is not valid.")
        if not req.headers.get("date"):
            return _oss_error(403, "AccessDenied", "The request has no Date header.")
        signature = oss_signature(stored.secret, req, f"/{BUCKET}/{key}")
        if req.headers.get("authorization") != f"OSS {stored.key_id}:{signature}":
            return _oss_error(403, "SignatureDoesNotMatch", "The request signature does not match.")
        digest = base64.b64encode(hashlib.md5(req.body).digest()).decode()
        if req.headers.get("content-md5", digest) != digest:
            return _oss_error(400, "InvalidDigest", "The Content-MD5 does not match the body.")
        if len(req.body) != stored.size:
            return _oss_error(400, "InvalidArgument", "The body is not the size declared for it.")
        with self._lock:
            stored.data, stored.content_type = req.body, req.headers.get("content-type", "")
        return Script(status=200, content_type="text/plain", body=b"", headers={"ETag": digest})

    def _owned_file(self, req: Recorded, file_id: Any) -> StoredFile | None:
        stored = self.files.get(file_id) if isinstance(file_id, str) else None
        return stored if stored is not None and stored.owner == self._token(req) else None

    def _parse(self, req: Recorded, m: re.Match[str]) -> Script:
        body = req.json if isinstance(req.json, dict) else {}
        stored = self._owned_file(req, body.get("file_id"))
        if stored is None or stored.data is None:
            return business_error("Not_Found", f"file {body.get('file_id')} not found")
        with self._lock:
            stored.parse, stored.pending = "pending", self.parse_pending
        return _json(200, {"success": True, "request_id": _uid(), "data": {}})

    def _parse_status(self, req: Recorded, m: re.Match[str]) -> Script:
        body = req.json if isinstance(req.json, dict) else {}
        records = []
        for file_id in body.get("file_id_list") or []:
            stored = self._owned_file(req, file_id)
            status = "failed" if stored is None or stored.parse is None else stored.parse
            if stored is not None and status == "pending":
                with self._lock:
                    stored.pending -= 1
                    if stored.pending < 0:
                        stored.parse = status = self.parse_outcome
            records.append({"file_id": file_id, "status": status})
        return _json(200, {"success": True, "request_id": _uid(), "data": records})

    def _bad_files(self, req: Recorded, body: dict[str, Any]) -> Script | None:
        """A message may reference only files its account uploaded; documents must be parsed."""
        files = body["messages"][0].get("files", [])
        if not isinstance(files, list):
            return business_error("Bad_Request", "RequestValidationError: files must be a list")
        for entry in files:
            entry = entry if isinstance(entry, dict) else {}
            stored = self._owned_file(req, entry.get("id"))
            if stored is None or stored.data is None:
                return business_error("Bad_Request", f"file {entry.get('id')} was never uploaded")
            if entry.get("url") != stored.url:
                return business_error("Bad_Request", f"file {stored.id} has another url")
            if (entry.get("type") == "image") != stored.content_type.startswith("image/"):
                return business_error("Bad_Request", f"file {stored.id} is not of its type")
            if entry.get("type") == "file" and stored.parse != "success":
                return business_error("Bad_Request", f"document {stored.id} was not parsed")
        msg = body["messages"][0]
        if msg.get("chat_type") == "image_edit" and not any(
            isinstance(f, dict) and f.get("type") == "image" for f in files
        ):
            return business_error("Bad_Request", "image_edit needs an image in files")
        return None

    def _start_video(self, req: Recorded, chat: Chat, msg: dict[str, Any], model: str) -> Script:
        """A t2v completion: JSON naming a task (the video is fetched by polling it)."""
        task = VideoTask(
            _uid(), self._token(req) or "", str(msg.get("content")), msg.get("size"),
            self.task_polls, self.task_outcome,
        )  # fmt: skip
        with self._lock:
            self.tasks[task.id] = task
        reply = {"role": "assistant", "chat_type": "t2v", "extra": {"wanx": {"task_id": task.id}}}
        data = {"model": model, "chat_id": chat.id, "messages": [reply]}
        return _json(200, {"success": True, "request_id": _uid(), "data": data})

    def _task_status(self, req: Recorded, m: re.Match[str]) -> Script:
        task = self.tasks.get(m["tid"])
        if task is None or task.owner != self._token(req):
            return business_error("Not_Found", "task not found")
        with self._lock:
            task.polls -= 1
            status = "running" if task.polls >= 0 else task.outcome
        content = f"{self.url}/output/t2v/{task.id}.mp4?key=abc" if status == "success" else ""
        if status == "empty":
            status = "success"
        return _json(200, {"task_status": status, "content": content, "task_id": task.id})


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a stalled or infinite stream
    allow_reuse_address = True
    fake: FakeUpstream

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # clients hanging up is routine here
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-chat-qwen-ai"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per small write on keep-alive sockets.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _handle(self) -> None:
        fake = self.server.fake
        try:
            req = self._read_request()
            with fake._lock:
                fake.requests.append(req)
            reply = self._dispatch(fake, req)
            script, ctx = reply if isinstance(reply, tuple) else (reply, None)
            self._play(script, ctx or _Ctx(None, _uid(), _uid(), "", fake._release, fake._gen))
        except ConnectionError:
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

    def _read_request(self) -> Recorded:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            parsed = json.loads(body) if body[:1] in (b"{", b"[") else None
        except ValueError:
            parsed = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        return Recorded(self.command, parts.path, query, headers, body, parsed)

    def _dispatch(self, fake: FakeUpstream, req: Recorded) -> _Reply:
        override = fake._pop(req.path) if req.path != COMPLETIONS else None
        if override is not None:
            return override
        wrong_method = False
        for method, pattern, name, needs_auth in getattr(fake, "ROUTES", _ROUTES):
            match = pattern.fullmatch(req.path)
            if match is None:
                continue
            if method != req.method:
                wrong_method = True
                continue
            if needs_auth and not fake._token_ok(fake._token(req)):
                return _json(401, {"detail": "Could not validate credentials"})
            endpoint: Callable[[Recorded, re.Match[str]], _Reply] = getattr(fake, name)
            return endpoint(req, match)
        return (
            _json(405, {"detail": "Method Not Allowed"})
            if wrong_method
            else _json(404, {"detail": "Not Found"})
        )

    # -- writing

    def _out(self, data: bytes) -> None:
        self.connection.sendall(data)  # straight to the socket: every write leaves immediately

    def _head(
        self, status: int, content_type: str, headers: dict[str, str] | None, framing: str
    ) -> bytes:
        reason = self.responses.get(status, ("Unknown",))[0]
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Server: {self.server_version}",
            f"Content-Type: {content_type}",
        ]
        lines += [framing] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _wait(self, seconds: float, release: threading.Event) -> None:
        """Sleep, waking early on reset()/stop() and noticing a client that hung up meanwhile."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if release.wait(min(left, 0.02)):
                raise _Aborted
            poller = select.poll()  # not select.select: it fails on descriptors above 1023
            poller.register(self.connection, select.POLLIN)
            if poller.poll(0) and self.connection.recv(1, socket.MSG_PEEK) == b"":
                raise ConnectionResetError("client closed the connection")

    def _drop(self) -> None:
        # Linger 0 turns close() into an RST; rfile holds a socket reference, so close it first.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()
        self.close_connection = True

    def _play(self, script: Script, ctx: _Ctx) -> None:
        if script.body is not None:
            try:
                self._wait(script.first_byte_delay, ctx.release)
            except _Aborted:
                self.close_connection = True
                return
            framing = f"Content-Length: {len(script.body)}"
            if self.close_connection:
                framing += "\r\nConnection: close"
            head = self._head(script.status, script.content_type, script.headers, framing)
            self._out(head + script.body)
            return
        fake = self.server.fake
        fake._stream_started()
        outcome = "aborted"
        try:
            self._wait(script.first_byte_delay, ctx.release)
            outcome = self._write_steps(script, ctx)
        except ConnectionError:
            outcome = "disconnect"
        except _Aborted:
            outcome = "aborted"
        finally:
            fake._stream_ended(ctx.gen, outcome)
            if outcome != "finished" or script.framing != "chunked":
                self.close_connection = True

    def _write_steps(self, script: Script, ctx: _Ctx) -> str:
        chunked = script.framing == "chunked"
        framing = "Transfer-Encoding: chunked" if chunked else "Connection: close"
        framing += "\r\nCache-Control: no-cache"
        pending = self._head(script.status, script.content_type, script.headers, framing)
        for step in script.steps:
            if ctx.release.is_set():
                raise _Aborted
            if pending and (isinstance(step, (Stall, Drop)) or step.delay):
                # Headers leave before any pause: only first_byte_delay holds back the status line.
                self._out(pending)
                pending = b""
            if isinstance(step, Stall):
                self._wait(step.seconds, ctx.release)
                continue
            if isinstance(step, Drop):
                self._drop()
                return "dropped"
            self._wait(step.delay, ctx.release)
            if isinstance(step, Raw):
                data = step.data
            else:
                data = _encode(self.server.fake._fill(step.obj, ctx), script.crlf)
            if data:  # an empty chunk would end a chunked body
                self._out(pending + (b"%x\r\n%s\r\n" % (len(data), data) if chunked else data))
                pending = b""
        self._out(pending + (b"0\r\n\r\n" if chunked else b""))
        return "finished"


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake chat.qwen.ai for trying qwenfree offline.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    fake = FakeUpstream(args.host, args.port).start()
    print(f"fake chat.qwen.ai listening on {fake.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
