"""Keep-alive events for silent streams.

A model can think for minutes without a byte; nginx drops idle connections after 60 s and a
client disconnect is only noticed on the next write. ``interleave`` reads the events in a
helper thread (a greenlet under gevent) and yields a ``Heartbeat`` whenever none arrived for
``interval`` seconds. Closing it stops the reader, which closes the source at its next event
(or when the upstream read times out): the source is never touched from two threads.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from qwenfree.events import Event, Heartbeat

_END = object()


@dataclass(frozen=True, slots=True)
class _Raised:
    error: BaseException


def interleave(first: Event, events: Iterator[Event], interval: float) -> Iterator[Event]:
    """Yield ``first`` then ``events``, with ``Heartbeat()`` in every silence of ``interval``."""
    inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
    stop = threading.Event()

    def pump() -> None:
        try:
            for event in events:
                inbox.put(event)
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer, which raises it
            inbox.put(_Raised(exc))
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
            inbox.put(_END)

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
