"""Events already read from the upstream go out in one write: the heartbeat pump tells the
web layer whether the next event is ready (``interleave.ready``)."""

from __future__ import annotations

import threading

from qwenfree import heartbeats
from qwenfree.events import Heartbeat, TextDelta
from tests.support.waiting import wait_until


def test_ready_tells_a_burst_from_a_wait():
    gate = threading.Event()

    def upstream():
        yield TextDelta("a")
        yield TextDelta("b")
        gate.wait(5)  # the upstream goes quiet
        yield TextDelta("c")

    events = heartbeats.interleave(TextDelta("first"), upstream(), interval=0.2)
    assert not events.ready()  # nothing started before the first read
    assert next(events) == TextDelta("first")
    assert wait_until(events.ready) and next(events) == TextDelta("a")
    assert next(events) == TextDelta("b")
    assert not events.ready()  # the next read would wait: the burst ends here
    assert next(events) == Heartbeat()
    gate.set()
    assert next(events) == TextDelta("c")
    events.close()
