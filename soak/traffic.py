"""The soak's traffic: weighted cases (normal answers, upstream faults, client hang-ups) sent in
the three dialects, and the judgement of each response: expected, or an unexpected error.

Each request names its case in the prompt (``soak:<case>:<n>``); the fake upstream
(``soak.upstream``) picks the script from it, so concurrent requests never swap scripts.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests

from tests import fake_upstream as fu
from tests.support.models import MODEL

ANSWER = "The soak answer, in several pieces, 巴黎 included."
PIECES = ["The soak ", "answer, in ", "several pieces, ", "巴黎 included."]
BIG = "0123456789abcdef" * 16384  # a 256 KiB answer in one frame


def _head(pieces: list[str]) -> list[Any]:
    return list(fu.drop_after(pieces).steps)[:-1]


@dataclass(frozen=True)
class Case:
    """One kind of request: the upstream's script and what the client must get.

    ``answer``: the exact text of a success. Otherwise an error: ``statuses`` before the first
    byte; ``midstream``: streams end with an in-band error event (non-streams: a 5xx).
    ``abort``: the client hangs up after the first event (streams only).
    """

    name: str
    weight: int
    script: Callable[[], fu.Script]
    answer: str | None = None
    statuses: frozenset[int] = frozenset()
    midstream: bool = False
    abort: bool = False


UNAVAILABLE = frozenset({502})
CASES = [
    Case("answer", 40, lambda: fu.answer(ANSWER, pieces=PIECES, delay=0.01), answer=ANSWER),
    Case("thinking", 8, lambda: fu.answer(ANSWER, pieces=PIECES, thinking="Hm."), answer=ANSWER),
    Case("dual-candidates", 4, lambda: fu.dual_candidates(ANSWER), answer=ANSWER),
    Case("big-frame", 2, lambda: fu.answer(BIG, pieces=[BIG]), answer=BIG),
    Case("abort", 10, lambda: fu.infinite(delay=0.02, max_seconds=30), abort=True),
    Case("reset-mid-frame", 4, lambda: fu.drop_after(["Hel", "lo"], partial=True), midstream=True),
    Case("stall", 2, lambda: fu.stall_after(["Hel", "lo"], 3.0, ["!"]), midstream=True),
    Case(
        "garbage",
        3,
        lambda: fu.Script([*_head(["Hel", "lo"]), fu.Raw(b"data: {nope\n\n")]),
        midstream=True,
    ),
    Case(
        "error-frame",
        3,
        lambda: fu.in_stream_error("internal_error", "boom", after=["x"]),
        midstream=True,
    ),
    Case("rate-limited", 4, lambda: fu.rate_limited(1), statuses=frozenset({429})),
    # pass-through: the caller's own credential was refused -> the caller's 401
    Case("http-401", 3, lambda: fu.http_error(401), statuses=frozenset({401})),
    Case("http-500", 3, lambda: fu.http_error(500, b"oops", "text/plain"), statuses=UNAVAILABLE),
    Case("waf", 3, lambda: fu.waf_html(), statuses=UNAVAILABLE),
    Case("empty", 3, lambda: fu.empty_stream(), statuses=UNAVAILABLE),
    Case("slow-first-byte", 2, lambda: fu.slow_first_byte(3.0), statuses=frozenset({504})),
]
BY_NAME = {c.name: c for c in CASES}


@dataclass(frozen=True)
class Dialect:
    name: str
    path: Callable[[bool], str]
    headers: Callable[[str], dict[str, str]]
    body: Callable[[str, bool], dict[str, Any]]


DIALECTS = [
    Dialect(
        "openai",
        lambda stream: "/v1/chat/completions",
        lambda token: {"Authorization": f"Bearer {token}"},
        lambda text, stream: {
            "model": MODEL,
            "stream": stream,
            "messages": [{"role": "user", "content": text}],
        },
    ),
    Dialect(
        "anthropic",
        lambda stream: "/v1/messages",
        lambda token: {"x-api-key": token, "anthropic-version": "2023-06-01"},
        lambda text, stream: {
            "model": "claude-opus-4-8",
            "max_tokens": 1000,
            "stream": stream,
            "messages": [{"role": "user", "content": text}],
        },
    ),
    Dialect(
        "gemini",
        lambda stream: (
            "/v1beta/models/gemini-2.5-flash:"
            + ("streamGenerateContent?alt=sse" if stream else "generateContent")
        ),
        lambda token: {"x-goog-api-key": token},
        lambda text, stream: {"contents": [{"role": "user", "parts": [{"text": text}]}]},
    ),
]


@dataclass(frozen=True)
class Outcome:
    case: str
    dialect: str
    stream: bool
    ok: bool  # as expected (a success, an expected error, a clean hang-up)
    detail: str = ""


def pick(rng: random.Random) -> tuple[Case, Dialect, bool]:
    case = rng.choices(CASES, weights=[c.weight for c in CASES])[0]
    return case, rng.choice(DIALECTS), case.abort or rng.random() < 0.5


def send(url: str, seq: int, case: Case, dialect: Dialect, stream: bool) -> Outcome:
    """Make one request and judge it; never raises."""
    text = f"soak:{case.name}:{seq} please answer"
    try:
        with requests.post(
            url + dialect.path(stream),
            json=dialect.body(text, stream),
            headers=dialect.headers(f"soak-token-{seq}"),
            stream=stream,
            timeout=30,
        ) as r:
            if case.abort:
                return _abort(r, case, dialect)
            problem = _judge(r, case, dialect, stream)
    except requests.RequestException as exc:
        problem = f"{type(exc).__name__}: {exc}"
    return Outcome(case.name, dialect.name, stream, not problem, problem)


def _abort(r: requests.Response, case: Case, dialect: Dialect) -> Outcome:
    first = next(r.iter_content(None), b"")
    ok = r.status_code == 200 and b"data: " in first
    return Outcome(case.name, dialect.name, True, ok, "" if ok else f"HTTP {r.status_code}")


def _judge(r: requests.Response, case: Case, dialect: Dialect, stream: bool) -> str:
    """What is wrong with this response ("" = nothing)."""
    if r.status_code != 200:
        return _judge_error(r, case, dialect, stream)
    if not stream:
        if case.answer is None:
            return "HTTP 200 where an error was due"
        got = _completion_text(dialect.name, r.json())
        return "" if got == case.answer else f"answer differs ({len(got)} characters)"
    events = list(_sse(r.text))
    if case.answer is not None:
        got = "".join(_stream_text(dialect.name, events))
        ended = _ended_normally(dialect.name, events)
        return "" if got == case.answer and ended else f"stream text/end wrong ({len(got)} chars)"
    if not case.midstream:
        return "HTTP 200 stream where an error status was due"
    return "" if _ends_with_error(dialect.name, events) else "stream did not end with an error"


def _judge_error(r: requests.Response, case: Case, dialect: Dialect, stream: bool) -> str:
    expected = case.statuses or (frozenset({502, 504}) if case.midstream and not stream else None)
    if not expected or r.status_code not in expected:
        return f"HTTP {r.status_code}: {r.text[:200]}"
    try:
        body = r.json()
    except ValueError:
        return f"HTTP {r.status_code} with a body that is not JSON"
    error = body.get("error")
    return "" if isinstance(error, dict) and error.get("message") else "no error message"


def _sse(text: str) -> Iterator[tuple[str | None, str]]:
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [x for x in block.split("\n") if x and not x.startswith(":")]
        if lines:
            name = next((x[7:] for x in lines if x.startswith("event: ")), None)
            yield name, "\n".join(x[6:] for x in lines if x.startswith("data: "))


def _completion_text(dialect: str, body: dict[str, Any]) -> str:
    if dialect == "openai":
        return str(body["choices"][0]["message"]["content"])
    if dialect == "anthropic":
        return "".join(b.get("text", "") for b in body["content"] if b["type"] == "text")
    parts = body["candidates"][0]["content"]["parts"]
    return "".join(p.get("text", "") for p in parts if not p.get("thought"))


def _stream_text(dialect: str, events: list[tuple[str | None, str]]) -> Iterator[str]:
    for name, data in events:
        if not data or data == "[DONE]":
            continue
        obj = json.loads(data)
        if dialect == "openai":
            yield from ((c["delta"].get("content") or "") for c in obj.get("choices", []))
        elif dialect == "anthropic" and name == "content_block_delta":
            yield obj["delta"].get("text", "")
        elif dialect == "gemini":
            for cand in obj.get("candidates", []):
                parts = cand.get("content", {}).get("parts", [])
                yield from (p.get("text", "") for p in parts if not p.get("thought"))


def _ended_normally(dialect: str, events: list[tuple[str | None, str]]) -> bool:
    name, data = events[-1] if events else (None, "")
    if dialect == "openai":
        return data == "[DONE]"
    if dialect == "anthropic":
        return name == "message_stop"
    return '"finishReason"' in data and '"error"' not in data


def _ends_with_error(dialect: str, events: list[tuple[str | None, str]]) -> bool:
    name, data = events[-1] if events else (None, "{}")
    try:
        obj = json.loads(data)
    except ValueError:
        return False
    if dialect == "anthropic":
        return name == "error" and obj.get("type") == "error"
    return isinstance(obj, dict) and isinstance(obj.get("error"), dict)
