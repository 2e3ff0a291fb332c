"""gunicorn's gevent worker with read deadlines and JSON error pages (``worker_class`` in
gunicorn.conf.py).

Slow clients: gunicorn's gevent worker bounds the wait for a request only by ``keepalive``
(75 s) and never times out a body, so a few hundred sockets that send half a request hold a
worker's connection slots (``worker_connections``) and ``/healthz`` stops answering. Here every
connection's socket is read through :class:`Deadlines`:

* a request's line and headers must arrive within ``QWENFREE_HEADER_TIMEOUT`` seconds of its
  first byte (of the accept, for a connection's first request); else 408 and close;
* while the app reads the body, each read waits at most ``QWENFREE_BODY_TIMEOUT`` seconds; else
  the body ends there, which the app answers as a 400, and the connection is closed;
* between keep-alive requests the socket may idle for ``keepalive`` seconds, as before; on a
  graceful stop (SIGTERM) idle connections are closed at once, as nginx does, instead of holding
  the worker until ``keepalive`` or ``graceful_timeout`` runs out (75 s / 90 s by default).

These are nginx's ``client_header_timeout`` and ``client_body_timeout`` (deploy/nginx.conf).

It also quits once on Ctrl-C (see ``handle_quit``).

gunicorn writes its own HTML page for requests it cannot parse (bad request line, header or
chunk size); gunicorn has no hook for the page's format, so this worker replaces
``gunicorn.util.write_error`` in its own process with one that writes the OpenAI-shaped JSON
error every other answer uses.

Loaded by the arbiter before fork: import only gevent, gunicorn and the standard library at
module level (``qwenfree/__init__.py`` imports nothing heavy for the same reason).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import weakref
from collections.abc import Iterator
from typing import Any

import gevent
from gevent.local import local
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

_current = local()  # the connection this greenlet serves


def _json_error(status: int, reason: str, message: str) -> bytes:
    body = json.dumps(
        {"error": {"message": message or reason, "type": "invalid_request_error", "code": status}}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, writing JSON instead of an HTML page."""
    util.write_nonblock(sock, _json_error(status_int, reason, mesg))


class Deadlines:
    """A client socket whose reads give up (as if the client closed) past their deadline."""

    def __init__(self, sock: Any, header_timeout: float, body_timeout: float, idle: float):
        self._sock = sock
        self.header_timeout, self.body_timeout, self.idle = header_timeout, body_timeout, idle
        self.phase = "headers"  # then "body", "idle" between keep-alive requests, ...
        self.deadline = time.monotonic() + header_timeout
        self.received = 0  # bytes of the request now being read (headers phase)
        self.expired = False
        self.answered = False  # a response went out since the last request's headers
        self.closing = False  # the server is stopping and ended this idle connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def await_request(self) -> None:
        if self.phase != "headers":  # a connection's first request is timed from the accept
            self.phase, self.received = "idle", 0

    def close_if_idle(self) -> None:
        """End the wait for a next request that has not begun (the server is stopping)."""
        if self.phase == "idle" or (self.phase == "headers" and not self.received):
            self.closing = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def hung_up(self) -> bool:
        """Whether the client has closed the connection (EOF or reset), looked at without
        waiting and without consuming what it sent: a pipelined request stays unread. For a
        response that writes nothing for a while (a Gemini stream's heartbeat is no bytes),
        where no failed write would tell. A half-closed client counts as gone, as nginx
        counts it (``proxy_ignore_client_abort off``)."""
        sock = self._sock
        timeout = sock.gettimeout()
        sock.settimeout(0)  # a would-block raises at once (gevent waits otherwise)
        try:
            return not sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:  # reset
            return True
        finally:
            sock.settimeout(timeout)

    def reading_body(self) -> None:
        self.phase, self.answered = "body", False

    def recv(self, size: int) -> bytes:
        if self.expired:
            return b""
        if self.phase == "idle":
            limit = self.idle
        elif self.phase == "headers":
            limit = self.deadline - time.monotonic()
        else:
            limit = self.body_timeout
        data = self._recv(size, limit) if limit > 0 else None
        if data is None:
            self._expire()
            return b""
        if self.phase == "idle" and data:
            self.phase, self.deadline = "headers", time.monotonic() + self.header_timeout
        self.received += len(data)
        return data

    def _recv(self, size: int, limit: float) -> bytes | None:
        timer = gevent.Timeout(limit)
        timer.start()
        try:
            return self._sock.recv(size)  # type: ignore[no-any-return]
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            return None
        except OSError:
            # gevent ends a wait cut by our own shutdown with EBADF ("closed in another
            # greenlet"): the connection's end, not an error worth a traceback.
            if self.closing:
                return None
            raise
        finally:
            timer.close()

    def _expire(self) -> None:
        self.expired = True
        if self.phase == "headers" and self.received and not self.answered:
            message = f"The request's headers did not arrive within {self.header_timeout:g} s"
            with contextlib.suppress(OSError):
                util.write_nonblock(self._sock, _json_error(408, "Request Timeout", message))


class Worker(GeventWorker):
    """The gevent worker with :class:`Deadlines` on every plain-HTTP connection."""

    def init_process(self) -> None:
        from qwenfree.settings import Settings  # after fork: the app's settings

        settings = Settings.from_env()
        self.header_timeout = settings.header_timeout
        self.body_timeout = settings.body_timeout
        self._connections: weakref.WeakSet[Deadlines] = weakref.WeakSet()
        util.write_error = write_json_error
        super().init_process()

    def handle_exit(self, sig: int, frame: Any) -> None:
        # A connection waiting for its next request would keep this worker alive until the
        # graceful timeout: its client learns of the close by a reset it already handles.
        super().handle_exit(sig, frame)
        for conn in list(self._connections):
            conn.close_if_idle()

    def handle_quit(self, sig: int, frame: Any) -> None:
        # Ctrl-C reaches the worker twice: SIGINT from the terminal, SIGQUIT from the arbiter.
        # gunicorn's gevent worker exits from a greenlet each time; the second one ran during
        # interpreter shutdown and printed a "SystemExit: 0" traceback. Quit once.
        if getattr(self, "_quitting", False):
            return
        self._quitting = True
        super().handle_quit(sig, frame)

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        if not self.cfg.is_ssl:  # TLS is terminated in front (nginx); its sockets stay as is
            client = Deadlines(client, self.header_timeout, self.body_timeout, self.cfg.keepalive)
            self._connections.add(client)
        _current.conn = client
        super().handle(listener, client, addr)

    @contextlib.contextmanager
    def timeout_ctx(self) -> Iterator[None]:
        """Around reading each request's line and headers (gunicorn's keep-alive loop)."""
        conn = getattr(_current, "conn", None)
        if not isinstance(conn, Deadlines):
            with gevent.Timeout(self.cfg.keepalive, False):
                yield
            return
        conn.await_request()
        if not self.alive:  # stopping: no next request on a connection that just answered
            conn.close_if_idle()
        yield

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> bool:
        if isinstance(sock, Deadlines):  # the headers are in; what the app reads is the body
            sock.reading_body()
        try:
            return super().handle_request(listener_name, req, sock, addr)  # type: ignore[no-any-return]
        finally:
            if isinstance(sock, Deadlines):
                sock.answered = True

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # A body the app left unread is drained before the next request; if that fails (a bad
        # chunk size), the request was answered already: a second answer would corrupt the
        # connection, so it is only closed.
        if isinstance(client, Deadlines) and client.answered:
            self.log.debug("closing after an unreadable request body: %s", exc)
            return
        super().handle_error(req, client, addr, exc)
