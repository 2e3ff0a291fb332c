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


def interleave(first: Event, events: Iterator[Event], interval: float) -> Iterator[Event]:
    """Yield ``first`` then ``events``, with ``Heartbeat()`` in every silence of ``interval``."""
    inbox: queue.Queue[object] = queue.Queue(maxsize=MAX_AHEAD)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        """Queue ``item`` for the consumer, waiting while it is behind; False once it left."""
        while not stop.is_set():
            try:
                inbox.put(item, timeout=0.25)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for event in events:
                if not hand_over(event) or stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, which raises it
            hand_over(_Raised(exc))
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
            hand_over(_END)

    threading.Thread(target=pump, name="stream-pump", daemon=True).start()
    try:
        yield first
        while True:
            try:
                item = inbox.get(timeout=interval)
            except queue.Empty:
                yield Heartbeat()
                continue
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
