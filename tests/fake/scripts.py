"""Ready-made answers (``Script``) for the fake chat.qwen.ai: streams, failures, challenges."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from itertools import zip_longest
from typing import Any

from .frames import (
    DEFAULT_TEXT,
    DEFAULT_THINKING,
    MODERATION,
    QUOTA,
    Drop,
    Frame,
    Raw,
    SavedImage,
    Script,
    Stall,
    _answer_frames,
    _created,
    _delta,
    _encode,
    _finished,
    _search_delta,
    _split,
    _thinking_frames,
    _Tokens,
    _uid,
    _with_rid,
)


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


# --------------------------------------------------------------------------- 2026-09 (§16)


def image_edit_answer(
    urls: list[str], *, thinking: str | list[str] | None = None, text: str = ""
) -> Script:
    """An image edit as answered since 2026-09 (§16.5): phase ``image_edit_tool`` with the
    pictures in ``extra.tool_result``, a list of ``{"image": url}`` (as peers read
    ``extra.tool_result[0].image``); nothing in ``image_gen``."""
    tokens = _Tokens(1049)
    frames = [_created()]
    if thinking:
        frames += _thinking_frames(thinking, "summary", tokens, 0.0)
    extra = {"tool_result": [{"image": url} for url in urls]}
    tool = _delta(
        "image_edit_tool", "", tokens, role="function", name="image_edit_tool",
        status="finished", extra=extra,
    )  # fmt: skip
    frames.append(Frame(tool))
    frames += _answer_frames(_split(text) if text else [], tokens)
    return Script(frames + [_finished()])


def image_in_chat_only(text: str = "", url: str | None = None) -> Script:
    """A t2i stream that ends without a URL; the picture is in the chat (``GET
    /api/v2/chats/<id>``: the answer node's ``content`` and an ``image_gen`` item of its
    ``content_list``)."""
    tokens = _Tokens(1049)
    return Script(
        [
            _created(),
            SavedImage(url),
            *_answer_frames(_split(text) if text else [], tokens),
            _finished(),
        ]
    )


def aliyun_block(status: int = 405) -> Script:
    """The Aliyun WAF block page (no captcha to solve: the address or the request is blocked)."""
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>405</title></head><body>'
        '<div id="block_message">Sorry, your request has been blocked as it may cause potential '
        "threats to the server's security.</div>"
        '<img src="https://errors.aliyun.com/images/TB15QGaHpXXXXXOaXXXXia39XXX-660-117.png">'
        f"<p>request id: {_uid()}</p></body></html>"
    )
    return Script(status=status, content_type="text/html; charset=utf-8", body=page.encode())


def _reshaped(shape: str, piece: str) -> dict[str, Any]:
    if shape == "message":  # a whole message instead of a delta
        return {"choices": [{"message": {"role": "assistant", "content": piece}}]}
    if shape == "list":  # content as a list of parts
        part = [{"type": "text", "text": piece}]
        delta = {"role": "assistant", "content": part, "phase": "answer", "status": "typing"}
        return {"choices": [{"delta": delta}]}
    if shape == "output":  # choices moved under a new key
        delta = {"role": "assistant", "content": piece, "phase": "answer", "status": "typing"}
        return {"output": {"choices": [{"delta": delta}]}}
    raise ValueError(f"unknown shape {shape!r}: message, list or output")


def unknown_frame(text: str = DEFAULT_TEXT, shape: str = "message") -> Script:
    """A stream whose content frames have a shape no parser knows (the site changed):
    ``message`` (choices[].message), ``list`` (delta.content a list) or ``output``."""
    steps = [_created(), *(Frame(_reshaped(shape, p)) for p in _split(text)), _finished()]
    return Script(steps)
