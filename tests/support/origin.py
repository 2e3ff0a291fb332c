"""A stand-in for "somewhere on the web" that callers' file URLs point at: a loopback HTTP server
serving files, redirects, oversized and endless bodies, and recording what it was asked.

Use ``origin_server, origin = origin_fixture()`` in a test module; ``origin.put("/a.png", data, "image/png")``
then ``origin.url("/a.png")``. ``/redirect?to=<url>`` answers 302, ``/big?bytes=N`` sends N bytes
with a Content-Length, ``/endless`` streams chunks without one until the client hangs up,
``/slow`` sends headers and then nothing for a while.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass
class Origin:
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_port

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def put(self, path: str, data: bytes, content_type: str) -> str:
        self.files[path] = (data, content_type)
        return self.url(path)

    def reset(self) -> None:
        self.files.clear()
        self.requests.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        origin: Origin = self.server.origin
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        origin.requests.append({"path": parts.path, "headers": dict(self.headers.items())})
        try:
            self._answer(origin, parts.path, query)
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    def _answer(self, origin: Origin, path: str, query: dict[str, str]) -> None:
        if path == "/redirect":
            self._send(302, b"", "text/plain", {"Location": query["to"]})
        elif path == "/big":
            self._send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * int(query["bytes"]), "image/png")
        elif path == "/endless":
            self._endless()
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            time.sleep(float(query.get("seconds", "3")))
        elif path in origin.files:
            data, content_type = origin.files[path]
            self._send(200, data, content_type)
        else:
            self._send(404, b"not found", "text/plain")

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"\x89PNG\r\n\x1a\n" + b"\0" * 65528
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.close_connection = True


def origin_fixture() -> Any:
    """The fixtures ``origin_server`` (one per module) and ``origin`` (emptied for each test)."""

    @pytest.fixture(scope="module")
    def origin_server() -> Iterator[Origin]:
        origin = Origin()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.origin = origin  # type: ignore[attr-defined]
        origin.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield origin
        server.shutdown()
        server.server_close()

    @pytest.fixture
    def origin(origin_server: Origin) -> Origin:
        origin_server.reset()
        return origin_server

    return origin_server, origin
