"""What clients can do to the gateway: hang up mid-stream (a thousand times), read slowly, send
bodies that are too large, malformed, mistyped or absurdly long. Each ends cleanly: upstream
connections closed, memory bounded, and a clear error in the caller's dialect, never a 500."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from qwenfree import heartbeats
from qwenfree.events import TextDelta
from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support import sse
from tests.support.models import MODEL
from tests.support.waiting import wait_until


@dataclass(frozen=True)
class Route:
    """One dialect's chat endpoint: path, auth headers, and a body for a given message list."""

    name: str
    path: str
    headers: dict[str, str]
    body: Callable[[list[dict[str, Any]], bool], dict[str, Any]]
    first_event: bytes  # how the first SSE message of a stream starts


def _openai(messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
    return {"model": MODEL, "messages": messages, "stream": stream}


def _anthropic(messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
    return {"model": "claude-opus-4-8", "max_tokens": 100, "messages": messages, "stream": stream}


def _gemini(messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": m["content"]}]} for m in messages]}


ROUTES = {
    "openai": Route(
        "openai", "/v1/chat/completions", {"Authorization": "Bearer " + TOKEN}, _openai, b"data: "
    ),
    "anthropic": Route(
        "anthropic",
        "/v1/messages",
        {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"},
        _anthropic,
        b"event: message_start",
    ),
    "gemini": Route(
        "gemini",
        "/v1beta/models/gemini-2.5-flash:{method}",
        {"x-goog-api-key": TOKEN},
        _gemini,
        b"data: ",
    ),
}
HI = [{"role": "user", "content": "hi"}]


def path_of(route: Route, stream: bool) -> str:
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return route.path.format(method=method)


def post(url: str, route: Route, body: Any, **kwargs: Any) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = route.headers | {"Content-Type": "application/json"}
    return requests.post(
        url + path_of(route, False), data=data, headers=headers, timeout=30, **kwargs
    )


# ------------------------------------------------------------------------------ disconnects


def raw_request(route: Route, host: str) -> bytes:
    body = json.dumps(route.body(HI, True)).encode()
    head = [
        f"POST {path_of(route, True)} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
    ]
    head += [f"{k}: {v}" for k, v in route.headers.items()] + [f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def abort_after_first_event(url: str, route: Route, reset: bool) -> bytes:
    """Open a stream on a raw socket, read until its first event, hang up (FIN or RST)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(raw_request(route, f"{host}:{port}"))
        seen = b""
        while b"\r\n\r\n" not in seen or route.first_event not in seen.split(b"\r\n\r\n", 1)[1]:
            chunk = s.recv(65536)
            if not chunk:
                break
            seen += chunk
        if reset:  # linger 0: close() sends RST, as a killed client would
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return seen


def worker_pid(master: int) -> int:
    with open(f"/proc/{master}/task/{master}/children") as f:
        return int(f.read().split()[0])


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


ABORTS = 1000


def test_a_thousand_aborted_streams_leave_no_upstream_connection_open(served, fake):
    url, proc = served.url, served.proc
    fake.enqueue(*[fu.infinite(delay=0.02, max_seconds=30) for _ in range(ABORTS)])
    worker = worker_pid(proc.pid)
    requests.get(url + "/healthz", timeout=5)
    fds_before = open_fds(worker)
    routes = list(ROUTES.values())

    def one(i: int) -> bytes:
        return abort_after_first_event(url, routes[i % 3], reset=bool(i % 2))

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(ABORTS)))

    assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers)
    assert all(routes[i % 3].first_event in a for i, a in enumerate(answers))
    assert fake.wait_until(lambda: fake.active_streams == 0, timeout=20), fake.active_streams
    assert fake.disconnects == ABORTS and fake.finished_streams == 0
    # The gateway's own sockets went back too (pooled keep-alive connections may stay).
    assert fake.wait_until(lambda: open_fds(worker) <= fds_before + 10, timeout=10)
    fake.enqueue(fu.answer("still here"))
    done = requests.post(
        url + "/v1/chat/completions",
        json=_openai(HI, False),
        headers=ROUTES["openai"].headers,
        timeout=10,
    )
    assert done.json()["choices"][0]["message"]["content"] == "still here"


# ------------------------------------------------------------------------------ slow readers


def test_the_heartbeat_pump_reads_only_a_bounded_distance_ahead_of_a_stalled_client():
    """The pump between upstream and client holds at most MAX_AHEAD events: a client that
    stops reading stops the upstream read, instead of the whole answer piling up in memory."""
    total, pulled, closed = 100_000, [0], threading.Event()

    def upstream() -> Iterator[TextDelta]:
        try:
            for _ in range(total):
                pulled[0] += 1
                yield TextDelta("x" * 100)
        finally:
            closed.set()

    events = heartbeats.interleave(TextDelta("first"), upstream(), interval=30)
    assert next(events) == TextDelta("first")
    assert next(events) == TextDelta("x" * 100)  # the pump is running
    # An unbounded pump would have read all 100,000 events (10 MB) by now.
    assert not wait_until(lambda: pulled[0] == total, 1.0)
    assert pulled[0] <= heartbeats.MAX_AHEAD + 3
    events.close()  # the client hangs up while the pump waits on a full queue
    assert closed.wait(5), "the pump never closed the upstream"


@pytest.mark.parametrize("route", list(ROUTES.values()), ids=list(ROUTES))
def test_a_client_that_pauses_mid_stream_still_gets_the_whole_answer(
    start_gateway, settings, fake, route
):
    gateway = start_gateway(dataclasses.replace(settings, heartbeat_interval=0.2))
    piece = "0123456789" * 100
    pieces = [f"<{i}>{piece}" for i in range(4000)]  # ~4 MB of answer in 4,000 events
    fake.enqueue(fu.answer("".join(pieces), pieces=pieces))
    headers = route.headers | {"Content-Type": "application/json"}
    with requests.post(
        gateway.url + path_of(route, True),
        data=json.dumps(route.body(HI, True)),
        headers=headers,
        stream=True,
        timeout=30,
    ) as r:
        raw = r.raw
        first = raw.read(64)
        time.sleep(1.5)  # a reader that stalls: the gateway must wait for it, not drop data
        rest = raw.read()
    text = "".join(stream_text(route.name, first + rest))
    assert text == "".join(pieces)
    assert fake.wait_until(lambda: fake.active_streams == 0)


def stream_text(dialect: str, wire: bytes) -> Iterator[str]:
    """The answer text in a raw SSE stream of the given dialect."""
    for _, obj in sse.events(wire):
        if dialect == "openai":
            yield from ((c["delta"].get("content") or "") for c in obj["choices"])
        elif dialect == "anthropic":
            yield (obj.get("delta") or {}).get("text", "")
        else:
            for cand in obj.get("candidates", []):
                yield from (p.get("text", "") for p in cand["content"].get("parts", []))


# ------------------------------------------------------------------------------ bad requests


def error_of(route: Route, r: requests.Response) -> tuple[str, str]:
    """(dialect error type, message) of an error response, checking the dialect's envelope."""
    body = r.json()
    if route.name == "anthropic":
        assert body["type"] == "error" and body["request_id"]
        return body["error"]["type"], body["error"]["message"]
    error = body["error"]
    if route.name == "gemini":
        assert error["code"] == r.status_code
        return error["status"], error["message"]
    return error["type"], error["message"]


@pytest.fixture
def small_limit(start_gateway, settings):
    return start_gateway(dataclasses.replace(settings, max_body_mb=1))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("route", list(ROUTES.values()), ids=list(ROUTES))
def test_a_body_over_the_limit_is_413_in_the_dialect(small_limit, fake, route, chunked):
    big = [{"role": "user", "content": "x" * (1024 * 1024 + 10)}]
    data = json.dumps(route.body(big, False)).encode()
    payload: Any = (
        iter([data[i : i + 65536] for i in range(0, len(data), 65536)]) if chunked else data
    )
    headers = route.headers | {"Content-Type": "application/json"}
    r = requests.post(small_limit.url + path_of(route, False), data=payload, headers=headers)
    assert r.status_code == 413
    kind, message = error_of(route, r)
    assert message == "The request body is too large"
    assert kind in ("invalid_request_error", "request_too_large", "INVALID_ARGUMENT")
    assert fake.completions() == []


DEEP = b"[" * 30_000 + b"]" * 30_000  # past Python's parser, within QWENFREE_MAX_JSON_VALUES


def bad_bodies(route: Route) -> list[Any]:
    """(body, words the message must contain) that every dialect must refuse with 400."""
    wrong_types = {
        "openai": {"model": MODEL, "messages": "hi"},
        "anthropic": {"model": "claude-opus-4-8", "max_tokens": "ten", "messages": HI},
        "gemini": {"contents": [{"role": "user", "parts": "hi"}]},
    }[route.name]
    return [
        pytest.param(b'{"messages": [', "not valid JSON", id="malformed-json"),
        pytest.param(b"\xff\xfe{}", "not valid JSON", id="not-utf8"),
        pytest.param(b"", "JSON object", id="empty"),
        pytest.param(b"[1, 2]", "JSON object", id="not-an-object"),
        pytest.param(b'"text"', "JSON object", id="a-string"),
        pytest.param(DEEP, "nested too deeply", id="nested-30000-deep"),
        pytest.param(wrong_types, "Invalid request", id="wrong-types"),
        pytest.param(many(route, 1_500, pad=3_000), "too long", id="1500-long-messages"),
    ]


def many(route: Route, n: int, pad: int = 0) -> dict[str, Any]:
    """``n`` messages; with ``pad`` characters each, 1,500 pass every model's context (1M)."""
    text = "x" * pad
    return route.body([{"role": "user", "content": f"message {i} {text}"} for i in range(n)], False)


@pytest.mark.parametrize("n", [2_001, 20_000])
@pytest.mark.parametrize("route", list(ROUTES.values()), ids=list(ROUTES))
def test_more_messages_than_the_limit_are_413_in_the_dialect(gateway, fake, route, n):
    r = post(gateway.url, route, many(route, n))
    assert r.status_code == 413, r.text[:300]
    kind, message = error_of(route, r)
    assert kind in ("invalid_request_error", "request_too_large", "INVALID_ARGUMENT"), kind
    assert "QWENFREE_MAX_JSON_" in message  # ITEMS (a 2,001-long list) or VALUES (the body)
    assert fake.completions() == []


CASES = [(route, *p.values, p.id) for route in ROUTES.values() for p in bad_bodies(route)]


@pytest.mark.parametrize(
    ("route", "body", "words"),
    [pytest.param(r, b, w, id=f"{r.name}-{i}") for r, b, w, i in CASES],
)
def test_bad_requests_are_400_with_a_clear_message_in_the_dialect(
    gateway, fake, route, body, words
):
    r = post(gateway.url, route, body)
    assert r.status_code == 400, r.text[:300]
    kind, message = error_of(route, r)
    assert kind in ("invalid_request_error", "INVALID_ARGUMENT"), kind
    assert words.lower() in message.lower(), message
    assert fake.completions() == []


@pytest.mark.parametrize("route", list(ROUTES.values()), ids=list(ROUTES))
def test_unknown_fields_are_ignored_not_refused(gateway, fake, route):
    """Clients send fields we do not model (newer SDKs, vendor extensions): ignore them."""
    body = route.body(HI, False) | {"x_unknown_field": {"nested": [1, 2, 3]}, "store": True}
    r = post(gateway.url, route, body)
    assert r.status_code == 200, r.text[:300]
    assert fu.DEFAULT_TEXT in r.text
