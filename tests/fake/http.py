"""HTTP plumbing of the fake chat.qwen.ai: reading requests, writing scripted answers."""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .frames import Drop, Raw, SavedImage, Script, Stall, _encode, _uid
from .state import Recorded, _Aborted, _Ctx


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a stalled or infinite stream
    allow_reuse_address = True
    fake: Any  # the FakeUpstream serving

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
            reply = fake._answer(req)
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

    # -- writing

    def _out(self, data: bytes) -> None:
        self.connection.sendall(data)  # straight to the socket: every write leaves immediately

    def _head(
        self, status: int, content_type: str, headers: dict[str, Any] | None, framing: str
    ) -> bytes:
        reason = self.responses.get(status, ("Unknown",))[0]
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"Server: {self.server_version}",
            f"Content-Type: {content_type}",
        ]
        lines.append(framing)
        for key, value in (headers or {}).items():  # a list value: one line each (Set-Cookie)
            lines += [f"{key}: {v}" for v in (value if isinstance(value, list) else [value])]
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
            if isinstance(step, SavedImage):
                self.server.fake._save_image(ctx, step.url)
                continue
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
