"""Keep-alive events for silent streams.

A model can think for minutes without a byte; nginx drops idle connections after 60 s and a
client disconnect is only noticed on the next write. Two ways to yield a ``Heartbeat`` whenever
no event arrived for ``interval`` seconds:

* a ``Silence`` offered while the answer opens is claimed by the upstream reader
  (``upstream/stream.py``), which then waits for the socket itself, at most ``interval`` at a
  time, *before* each read (never inside urllib3's chunked generator, which an exception would
  end) and yields a ``Heartbeat`` through the layers above. No second greenlet, no queue: this
  is what a chat completion uses (measured: about 15 KB less per open stream).
* ``interleave``, for any other source (a video being polled): reads the events in a helper
  thread (a greenlet under gevent). Closing it stops the reader, which closes the source at its
  next event (or when the upstream read times out): the source is never touched from two threads.

A heartbeat that writes no bytes (Gemini's) cannot fail a write: ``Departures`` then looks at
the client's socket, so a client gone during a silence still ends the upstream call.

The reader stays at most ``MAX_AHEAD`` events ahead of the consumer: a client that stops reading
stops the upstream read too (TCP backpressure) instead of the answer piling up in memory.
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from qwenfree.events import Event, Heartbeat

_END = object()
MAX_AHEAD = 64  # events read but not yet sent; the reader waits beyond this


@dataclass(frozen=True, slots=True)
class _Raised:
    error: BaseException


class interleave:  # noqa: N801 - used as a function: ``interleave(first, events, interval)``
    """Yield ``first`` then ``events``, with ``Heartbeat()`` in every silence of ``interval``.
    ``ready()`` tells the consumer whether the next event is already read (a burst to send in
    one write); ``close()`` stops the reader."""

    def __init__(self, first: Event, events: Iterator[Event], interval: float) -> None:
        self.inbox: queue.Queue[object] = queue.Queue(maxsize=MAX_AHEAD)
        self.stop = threading.Event()
        self._events = events
        self._output = self._run(first, interval)

    def __iter__(self) -> Iterator[Event]:
        return self._output

    def __next__(self) -> Event:
        return next(self._output)

    def ready(self) -> bool:
        return not self.inbox.empty()

    def close(self) -> None:
        self._output.close()
        self.stop.set()

    def _hand_over(self, item: object) -> bool:
        """Queue ``item`` for the consumer, waiting while it is behind; False once it left.
        The untimed try first: a timed ``put`` arms a timer, per event."""
        try:
            self.inbox.put_nowait(item)
            return True
        except queue.Full:
            pass
        while not self.stop.is_set():
            try:
                self.inbox.put(item, timeout=0.25)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self) -> None:
        events = self._events
        try:
            for event in events:
                if not self._hand_over(event) or self.stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, which raises it
            self._hand_over(_Raised(exc))
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
            self._hand_over(_END)

    def _run(self, first: Event, interval: float) -> Iterator[Event]:
        inbox = self.inbox
        # Started on the first read, as the response is sent: a response never sent starts none.
        threading.Thread(target=self._pump, name="stream-pump", daemon=True).start()
        try:
            yield first
            while True:
                try:  # a timer (the heartbeat's) only when the reader has nothing yet
                    item = inbox.get_nowait() if not inbox.empty() else inbox.get(timeout=interval)
                except queue.Empty:
                    yield Heartbeat()
                    continue
                if item is _END:
                    return
                if isinstance(item, _Raised):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            self.stop.set()


class Silence:
    """One streamed response's heartbeat duty, offered by the web layer while the answer opens
    (``offering``) and claimed by the upstream reader that can keep it (``claim``)."""

    __slots__ = ("active", "holding", "interval", "reader")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.active = False  # set once the response streams: heartbeats before that are moot
        self.holding = False  # the web layer holds events for one write: never wait long
        self.reader: Any = None  # the reader now reading, while it reads; has ``ready()``

    def ready(self) -> bool:
        """Whether the next event can be had without waiting for the upstream; the web layer
        holds its events while it says so."""
        reader = self.reader
        self.holding = held = reader is not None and reader.ready()
        return held


_offered: ContextVar[Silence | None] = ContextVar("qwenfree_silence", default=None)


@contextlib.contextmanager
def offering(silence: Silence | None) -> Iterator[None]:
    """Readers opened inside (the generators run in the caller's context) may claim it."""
    token = _offered.set(silence)
    try:
        yield
    finally:
        _offered.reset(token)


def claim() -> Silence | None:
    return _offered.get()


class ClientLeft(Exception):  # noqa: N818 - an outcome, not a fault
    """The client hung up during a silence (``Departures``): end the response as a failed
    write would."""


class Departures:
    """Ends a response whose heartbeat writes nothing once its client has hung up. A dialect
    that writes its heartbeat learns of a departure from the failed write; one that writes
    nothing (Gemini: one whole response per ``data:`` line, never a comment) only from a look
    at the client's socket (``hung_up``), made after such a heartbeat: one peek per silent
    interval, nothing per event. The web layer counts its ``writes``."""

    __slots__ = ("hung_up", "writes")

    def __init__(self, hung_up: Callable[[], bool]) -> None:
        self.hung_up = hung_up
        self.writes = 0

    def watch(self, events: Iterator[Event]) -> Iterator[Event]:
        """``events``; raises ``ClientLeft`` after a heartbeat that wrote nothing to a client
        that hung up."""
        for event in events:
            if event.__class__ is not Heartbeat:
                yield event
                continue
            before = self.writes
            yield event  # the encoder asks for the next event once the heartbeat's bytes left
            if self.writes == before and self.hung_up():
                raise ClientLeft


def departures(environ: Mapping[str, Any]) -> Departures | None:
    """A watch over this request's client, if its server's socket can tell that it hung up
    (``worker.Deadlines.hung_up``, under gunicorn); None elsewhere (werkzeug, TLS)."""
    hung_up = getattr(environ.get("gunicorn.socket"), "hung_up", None)
    return None if hung_up is None else Departures(hung_up)


def watched_whole(
    events: Iterator[Event], environ: Mapping[str, Any], interval: float
) -> Iterator[Event]:
    """``events`` of an answer sent whole at its end (Gemini's JSON-array stream), raising
    ``ClientLeft`` once its client hung up during a silence: nothing is written before the
    end, so each heartbeat of the reader (offered a ``Silence`` while it opens) looks."""
    watch = departures(environ) if interval > 0 else None
    if watch is None:
        yield from events
        return
    silence = Silence(interval)
    with offering(silence):
        first = next(events, None)  # opens the reader, which claims the silence
    if first is None:
        return
    silence.active = True  # a reader that claimed nothing leaves it unread: no heartbeats
    yield first
    yield from watch.watch(events)


def arrived(fp: Any, sock: socket.socket) -> bool:
    """Whether bytes are buffered in ``fp`` (the response's reader over ``sock``) or on the
    socket now, without waiting: a peek with the socket briefly non-blocking (a timeout would
    disable the socket's file object for good; a would-block does not)."""
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        return bool(fp.peek(1))  # b"" at EOF too: the read that follows sees the end
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    except (OSError, ValueError):  # reset, closed: the read that follows raises it, mapped
        return True
    finally:
        sock.settimeout(timeout)


def wait_readable(sock: socket.socket, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``sock`` to become readable (or to end)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):
        from gevent.socket import wait_read

        try:
            wait_read(sock.fileno(), timeout)
        except TimeoutError:  # gevent's socket.timeout
            return False
        return True
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(timeout * 1000))
