"""A minimal HTTP/1.1 load-generator client on gevent sockets (no monkey patching needed).

It does only what the measurements need, cheaply: send a request on a keep-alive connection,
read the head, then count answer pieces in the body as bytes arrive (every piece the fake sends
holds the marker ``qzx`` exactly once, in every dialect's encoding) and note when they arrive.
A chunked body ends with ``\\r\\n0\\r\\n\\r\\n``; no SSE payload here contains a CR, so the tail
of the raw bytes is enough to see the end without de-chunking every read.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from gevent import socket

from bench.fake import MARKER

MARK = MARKER.encode()
CHUNKED_END = b"\r\n0\r\n\r\n"
MARK_TAIL = len(MARK) - 1  # a marker split across reads is counted once, in the later read
RECV = 65536


class HTTPError(Exception):
    """The connection broke or the response could not be read."""


@dataclass
class Result:
    """One response: when it started, when the first piece and the end arrived, what it held."""

    status: int = 0
    start: float = 0.0
    first: float | None = None  # arrival of the first answer piece (perf_counter seconds)
    end: float = 0.0
    events: int = 0  # answer pieces counted
    times: list[float] = field(default_factory=list)  # arrival of each piece (when tracked)
    body: bytes = b""  # kept only for small non-streamed bodies
    error: str = ""

    @property
    def ttft(self) -> float:
        return (self.first if self.first is not None else self.end) - self.start

    @property
    def total(self) -> float:
        return self.end - self.start


class Conn:
    """One keep-alive connection; requests run one after another."""

    def __init__(self, host: str, port: int, timeout: float = 120.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = f"{host}:{port}"
        self.rest = b""  # bytes read past the head

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any = None,
        *,
        track: bool = False,
        result: Result | None = None,
    ) -> Result:
        """Send one request and read its whole response; ``track`` keeps every arrival time."""
        data = json.dumps(body).encode() if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
        out = result or Result(start=time.perf_counter())
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
        status, length, chunked = self._head()
        out.status = status
        if chunked:
            self._read_chunked(out, track)
        else:
            self._read_sized(out, length)
        out.end = time.perf_counter()
        return out

    def _recv(self) -> bytes:
        data = self.sock.recv(RECV)
        if not data:
            raise HTTPError("connection closed by the server")
        return data

    def _head(self) -> tuple[int, int | None, bool]:
        buf = self.rest
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += self._recv()
        head, self.rest = buf[:end].decode("latin-1"), buf[end + 4 :]
        lines = head.split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        length = fields.get("content-length")
        chunked = "chunked" in fields.get("transfer-encoding", "").lower()
        return int(lines[0].split(" ", 2)[1]), int(length) if length else None, chunked

    def _read_sized(self, out: Result, length: int | None) -> None:
        body = self.rest
        while length is None or len(body) < length:
            try:
                body += self._recv()
            except HTTPError:
                if length is None:  # close-delimited
                    break
                raise
        out.body, self.rest = body[:length], b""
        out.events = out.body.count(MARK)
        if out.events:
            out.first = time.perf_counter()

    def _read_chunked(self, out: Result, track: bool) -> None:
        # Short tails carried between reads: a marker or the end split across two reads.
        data, mark_tail, end_tail = self.rest, b"", b"\r\n"
        self.rest = b""
        while True:
            window = mark_tail + data
            found = window.count(MARK)
            if found:
                now = time.perf_counter()
                if out.first is None:
                    out.first = now
                out.events += found
                if track:
                    out.times.extend([now] * found)
            end_window = end_tail + data
            if end_window.endswith(CHUNKED_END):
                return
            mark_tail, end_tail = window[-MARK_TAIL:], end_window[-len(CHUNKED_END) :]
            data = self._recv()
