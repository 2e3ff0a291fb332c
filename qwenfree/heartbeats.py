"""Keep-alive events for silent streams.

A model can think for minutes without a byte; nginx drops idle connections after 60 s and a
client disconnect is only noticed on the next write. ``interleave`` reads the events in a
helper thread (a greenlet under gevent) and yields a ``Heartbeat`` whenever none arrived for
``interval`` seconds. Closing it stops the reader, which closes the source at its next event
(or when the upstream read times out): the source is never touched from two threads.

The reader stays at most ``MAX_AHEAD`` events ahead of the consumer: a client that stops reading
stops the upstream read too (TCP backpressure) instead of the answer piling up in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

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
