"""A lean pacing fake of chat.qwen.ai for benchmarks: asyncio, one thread, thousands of streams.

tests/fake_upstream.py is the faithful fake (validation, scripts, chat history) but it spends
a thread per connection and a ``select`` poll per paced frame; this one only answers the three
calls a completion needs (``GET /api/models``, ``POST /api/v2/chats/new``, ``POST
/api/v2/chat/completions``) with byte-identical frames built by that module's frame builders,
and paces them with timer callbacks.

Each completion reads its shape from the user message, a spec like ``bench:n=200,gap=0.05``:

* ``n``: answer text events; each piece is ``qzx`` + filler (the load generator counts ``qzx``);
* ``gap``: seconds between text events (0: the whole answer in one write);
* ``first``: seconds before the first text event; ``size``: characters per piece.

``POST /bench/config {"new_chat_delay": s}`` delays ``chats/new`` replies (to model a remote
upstream); ``GET /bench/stats?reset=1`` reports frames written and the fake's own lateness.
Run: ``python -m bench.fake --port 9200``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests import fake_upstream as fu

RID = "00000000-0000-4000-8000-000000000000"  # placeholder, same length as a real uuid4
MARKER = "qzx"
DEFAULTS = {"n": 20, "gap": 0.0, "first": 0.0, "size": 8}
SPEC = re.compile(r"bench:([a-z]+=[0-9.]+(?:,[a-z]+=[0-9.]+)*)")
COMPLETIONS = "/api/v2/chat/completions"


def parse_spec(text: str) -> dict[str, float]:
    """Read ``bench:n=..,gap=..`` from a message text; missing keys keep their defaults."""
    spec: dict[str, float] = dict(DEFAULTS)
    found = SPEC.search(text)
    for pair in found[1].split(",") if found else ():
        key, _, value = pair.partition("=")
        if key in spec:
            spec[key] = float(value)
    return spec


def piece(i: int, size: int) -> str:
    """One answer piece: the marker, a digit, filler, a space (``size`` characters)."""
    return (f"{MARKER}{i % 10}" + "abcdefghijklmnopqrstuvwxyz")[: max(4, size - 1)] + " "


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _frame(obj: dict[str, Any]) -> bytes:
    return _chunk(fu._encode(fu._with_rid(obj, RID)))


def build_ticks(n: int, size: int) -> list[bytes]:
    """The answer as chunked writes, one per text event, with ``RID`` to be replaced.

    Frames come from the faithful fake: an empty answer frame, the pieces (with running usage),
    another empty frame and the closing ``finished`` frame; the extras ride with the first and
    last text event, so exactly ``n`` writes carry text.
    """
    frames = fu._answer_frames([piece(i, size) for i in range(n)], fu._Tokens(1049))
    encoded = [_frame(f.obj) for f in frames] + [_frame(fu._finished().obj)]
    ticks = [encoded[0] + encoded[1]] + encoded[2 : n + 1]
    ticks[-1] += b"".join(encoded[n + 1 :]) + b"0\r\n\r\n"
    return ticks


@dataclass
class Stats:
    frames: int = 0
    streams: int = 0
    lateness: list[float] = field(default_factory=list)  # seconds behind schedule, sampled

    def record(self, late: float) -> None:
        self.frames += 1
        if len(self.lateness) < 200_000:
            self.lateness.append(late)

    def report(self) -> dict[str, Any]:
        late = sorted(self.lateness)
        pick = (lambda q: late[min(len(late) - 1, int(q * len(late)))]) if late else lambda q: 0
        return {
            "frames": self.frames,
            "streams": self.streams,
            "late_p50_ms": pick(0.5) * 1000,
            "late_p99_ms": pick(0.99) * 1000,
        }


@dataclass
class Fake:
    """Shared state of the server: frame templates, settings and counters."""

    new_chat_delay: float = 0.0
    stats: Stats = field(default_factory=Stats)
    ticks: dict[tuple[int, int], list[bytes]] = field(default_factory=dict)
    models: bytes = b""

    def template(self, n: int, size: int) -> list[bytes]:
        key = (n, size)
        if key not in self.ticks:
            self.ticks[key] = build_ticks(n, size)
        return self.ticks[key]


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


def _json(obj: Any, status: str = "200 OK") -> bytes:
    return _response(status, "application/json", json.dumps(obj).encode())


SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    b"Cache-Control: no-cache\r\n\r\n"
)


class Connection(asyncio.Protocol):
    """One keep-alive client connection; requests are served one at a time, in order."""

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.buf = bytearray()
        self.busy = False  # a reply (stream or delayed JSON) is still being written
        self.timer: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self.next_request()

    def next_request(self) -> None:
        while not self.busy and self.transport is not None:
            request = self._take_request()
            if request is None:
                return
            self.dispatch(*request)

    def _take_request(self) -> tuple[str, str, dict[str, str], bytes] | None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        size = int(headers.get("content-length") or 0)
        if len(self.buf) < end + 4 + size:
            return None
        body = bytes(self.buf[end + 4 : end + 4 + size])
        del self.buf[: end + 4 + size]
        method, target, _ = lines[0].split(" ", 2)
        return method, target, headers, body

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        path, _, query = target.partition("?")
        if path.startswith("/api/") and "authorization" not in headers:
            self.send(_json({"detail": "Could not validate credentials"}, "401 Unauthorized"))
        elif path in ("/api/models", "/api/v2/models"):
            self.send(self.fake.models)
        elif path == "/api/v2/chats/new" and method == "POST":
            self.new_chat()
        elif path == COMPLETIONS and method == "POST":
            self.completion(query, body)
        elif path.startswith("/api/v2/chats/") and method == "DELETE":
            self.send(_json({"success": True, "data": {"status": True}}))
        elif path == "/bench/config" and method == "POST":
            self.fake.new_chat_delay = float(json.loads(body).get("new_chat_delay", 0.0))
            self.send(_json({"ok": True}))
        elif path == "/bench/stats":
            self.send(_json(self.fake.stats.report()))
            if "reset=1" in query:
                self.fake.stats = Stats()
        else:
            self.send(_json({"detail": "Not Found"}, "404 Not Found"))

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def new_chat(self) -> None:
        reply = _json({"success": True, "request_id": str(uuid.uuid4()), "data": {"id": _uid()}})
        if self.fake.new_chat_delay <= 0:
            self.send(reply)
            return
        self.busy = True
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.fake.new_chat_delay, self._finish, reply)

    def _finish(self, data: bytes) -> None:
        self.timer = None
        self.busy = False
        self.send(data)
        self.next_request()

    def completion(self, query: str, body: bytes) -> None:
        try:
            message = json.loads(body)["messages"][0]
            content = message["content"] if isinstance(message["content"], str) else ""
        except (ValueError, KeyError, IndexError, TypeError):
            self.send(_json({"success": False, "data": {"code": "Bad_Request"}}))
            return
        spec = parse_spec(content)
        chat_id = query.partition("chat_id=")[2].partition("&")[0]
        Stream(self, chat_id, spec).start()


def _uid() -> str:
    return str(uuid.uuid4())


class Stream:
    """Writes one paced answer: tick ``i`` is due at ``start + first + i * gap``."""

    def __init__(self, conn: Connection, chat_id: str, spec: dict[str, float]) -> None:
        self.conn = conn
        self.rid = _uid().encode()
        self.ticks = conn.fake.template(max(1, int(spec["n"])), int(spec["size"]))
        self.gap, self.first = spec["gap"], spec["first"]
        created = {"chat_id": chat_id, "parent_id": _uid(), "response_id": self.rid.decode()}
        created["response_index"] = "0"
        self.head = SSE_HEAD + _chunk(fu._encode({"response.created": created}))
        self.index = 0
        self.start_at = 0.0

    def start(self) -> None:
        conn, loop = self.conn, asyncio.get_running_loop()
        conn.busy = True
        conn.fake.stats.streams += 1
        self.start_at = loop.time()
        if self.gap <= 0 and self.first <= 0:  # everything at once, as fast as possible
            body = b"".join(self.ticks).replace(RID.encode(), self.rid)
            conn.send(self.head + body)
            conn.fake.stats.frames += len(self.ticks)
            self.done()
            return
        conn.send(self.head)
        conn.timer = loop.call_at(self.start_at + self.first, self.tick)

    def tick(self) -> None:
        conn, loop = self.conn, asyncio.get_running_loop()
        due = self.start_at + self.first + self.index * self.gap
        conn.fake.stats.record(loop.time() - due)
        conn.send(self.ticks[self.index].replace(RID.encode(), self.rid))
        self.index += 1
        if self.index == len(self.ticks):
            conn.timer = None
            self.done()
            return
        conn.timer = loop.call_at(due + self.gap, self.tick)

    def done(self) -> None:
        self.conn.busy = False
        self.conn.next_request()


async def serve(host: str, port: int) -> None:
    fake = Fake(models=_json({"data": fu.default_models(fu.SEP_2026)}))  # the site as it is now
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(fake), host, port, backlog=4096)
    print(f"bench fake chat.qwen.ai listening on http://{host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="Lean pacing fake of chat.qwen.ai (benchmarks).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
