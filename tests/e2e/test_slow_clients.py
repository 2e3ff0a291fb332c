"""The real server (gunicorn + qwenfree's gevent worker) against slow and malformed clients
(issue 14, items 5 and 6): half-sent requests are closed after QWENFREE_HEADER_TIMEOUT /
QWENFREE_BODY_TIMEOUT while /healthz keeps answering; a bad chunk size is a clean 400; the
server's own error pages are JSON."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import TOKEN

ROOT = Path(__file__).resolve().parents[2]
CHAT = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()


@pytest.fixture
def serve(gunicorn) -> Callable[..., tuple[str, Path]]:
    """``serve(**env)``: gunicorn as `make serve` runs it; returns (url, log path)."""

    def start(**extra: str) -> tuple[str, Path]:
        served = gunicorn(QWENFREE_GRACEFUL_TIMEOUT="1", **extra)
        return served.url, served.log

    return start


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def answer(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), raw
    return status, json.loads(body)


def test_half_sent_requests_are_closed_and_health_keeps_answering(serve):
    url, log = serve(
        QWENFREE_HEADER_TIMEOUT="1",
        QWENFREE_BODY_TIMEOUT="1",
        QWENFREE_WORKER_CONNECTIONS="40",
    )
    opened = time.monotonic()
    headers = [connect(url) for _ in range(40)]  # as many as the worker takes at once
    for s in headers:
        s.sendall(CHAT + b"\r\nContent-Type: application/json\r\n")  # headers never end
    bodies = [connect(url) for _ in range(10)]
    for s in bodies:
        s.sendall(CHAT + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    silent = [connect(url) for _ in range(10)]  # connected, never sent a byte

    r = requests.get(url + "/healthz", timeout=5)  # waits for slots, not for ever
    assert r.ok and time.monotonic() - opened < 3.0

    closed_after = []
    for s in headers:
        status, body = answer(read_all(s))
        assert status == 408 and "headers" in body["error"]["message"]
        closed_after.append(time.monotonic() - opened)
    for s in bodies:
        status, body = answer(read_all(s))
        assert status == 400 and "body" in body["error"]["message"]
        closed_after.append(time.monotonic() - opened)
    for s in silent:
        assert read_all(s) == b""
        closed_after.append(time.monotonic() - opened)
    for s in headers + bodies + silent:
        s.close()
    assert max(closed_after) < 4.0, closed_after
    assert "Traceback" not in log.read_text()


def test_a_trickling_header_is_timed_from_its_first_byte(serve):
    url, _ = serve(QWENFREE_HEADER_TIMEOUT="1")
    s = connect(url)
    started = time.monotonic()
    for line in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"X-A: 1\r\n", b"X-B: 2\r\n"):
        try:
            s.sendall(line)
        except OSError:
            break
        time.sleep(0.4)
    status, _ = answer(read_all(s))
    s.close()
    assert status == 408 and time.monotonic() - started < 2.5


def test_an_invalid_chunk_size_is_a_clean_400(serve):
    url, log = serve()
    s = connect(url)
    s.sendall(
        CHAT + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n"
    )
    raw = read_all(s)  # exactly one answer, then the connection is closed
    s.close()
    assert raw.count(b"HTTP/1.1 ") == 1, raw
    status, body = answer(raw)
    assert status == 400 and "chunk" in body["error"]["message"], body
    assert requests.get(url + "/healthz", timeout=5).ok
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
    ],
    ids=["request-line", "header", "version"],
)
def test_the_servers_own_error_pages_are_json(serve, raw):
    url, _ = serve()
    s = connect(url)
    s.sendall(raw)
    status, body = answer(read_all(s))
    s.close()
    assert status == 400 and body["error"]["code"] == 400 and body["error"]["message"]


def test_keep_alive_idles_and_slow_but_steady_bodies_are_not_cut(serve):
    url, _ = serve(QWENFREE_HEADER_TIMEOUT="1", QWENFREE_BODY_TIMEOUT="1")
    body = json.dumps(
        {"model": "claude-sonnet-4", "messages": [{"role": "user", "content": "hi " * 2000}]}
    ).encode()
    head = (
        b"POST /v1/messages/count_tokens HTTP/1.1\r\nHost: x\r\nx-api-key: " + TOKEN.encode()
        + b"\r\nanthropic-version: 2023-06-01\r\nContent-Type: application/json\r\n"
        + b"Connection: close\r\n"
        + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )  # fmt: skip
    with requests.Session() as session:
        assert session.get(url + "/healthz", timeout=5).ok
        time.sleep(1.5)  # idle between requests: keepalive (75 s) applies, not the header limit
        assert session.get(url + "/healthz", timeout=5).ok
    s = connect(url)
    s.sendall(head)
    started = time.monotonic()
    for i in range(0, len(body), len(body) // 4 + 1):  # ~2 s in all, 0.5 s between pieces
        time.sleep(0.5)
        s.sendall(body[i : i + len(body) // 4 + 1])
    raw = read_all(s)
    s.close()
    status, answer_body = answer(raw)
    assert status == 200 and answer_body["input_tokens"] > 0, answer_body
    assert time.monotonic() - started > 1.5  # longer than QWENFREE_BODY_TIMEOUT in all
