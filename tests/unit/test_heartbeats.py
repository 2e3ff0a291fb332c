"""Heartbeats during a silent upstream and events already read leaving in one write: kept by
the upstream reader itself for a chat completion (no pump beside it), by the pump
(``interleave``) for any other source."""

from __future__ import annotations

import json
import socket
import threading

import pytest
import requests

from qwenfree import heartbeats
from qwenfree.events import Heartbeat, TextDelta
from qwenfree.upstream.stream import UpstreamStream
from tests.conftest import TOKEN, user
from tests.support.waiting import wait_until

CLIENT = {"Authorization": "Bearer " + TOKEN}
BODY = {"messages": user(), "stream": True}


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


def _frame(text: str, status: str = "typing") -> bytes:
    delta = {"role": "assistant", "content": text, "phase": "answer", "status": status}
    return b"data: " + json.dumps({"choices": [{"delta": delta}]}).encode() + b"\n\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_the_reader_tells_a_burst_from_a_wait_and_beats_in_the_silence():
    """Three frames in one write, a silence, the end: ``ready()`` is true while the written
    frames last and false once the next read would wait, which then yields heartbeats."""
    go_on = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as server:

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                burst = _frame("a") + _frame("b") + _frame("c")
                conn.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n" + _chunk(burst))
                go_on.wait(5)
                conn.sendall(_chunk(_frame("d", "finished")) + b"0\r\n\r\n")

        threading.Thread(target=serve, daemon=True).start()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        silence = heartbeats.Silence(0.1)
        with heartbeats.offering(silence):
            stream = UpstreamStream(requests.get(url, stream=True, timeout=5))
            events = iter(stream)
            assert next(events) == TextDelta("a")  # the answer's first event, before streaming
        silence.active = True
        assert silence.reader is stream and silence.ready()
        assert next(events) == TextDelta("b") and silence.ready()
        assert next(events) == TextDelta("c")
        assert not silence.ready()  # nothing more has arrived: the burst ends here
        assert next(events) == Heartbeat() and next(events) == Heartbeat()
        go_on.set()
        rest = list(events)
        assert TextDelta("d") in rest and silence.reader is None


def test_a_hang_up_is_seen_without_consuming_a_pipelined_request():
    from qwenfree.worker import Deadlines

    ours, theirs = socket.socketpair()
    with ours, theirs:
        conn = Deadlines(ours, header_timeout=5, body_timeout=5, idle=5)
        assert not conn.hung_up()  # connected and quiet
        theirs.sendall(b"GET /next HTTP/1.1\r\n")  # a pipelined request, then the hang-up
        theirs.close()
        assert not conn.hung_up()  # its bytes come first: not a departure yet
        assert ours.recv(100) == b"GET /next HTTP/1.1\r\n"  # and still there to read
        assert conn.hung_up()
        assert ours.gettimeout() is None  # left blocking as it was


def test_departures_look_only_after_a_heartbeat_that_wrote_nothing():
    looks: list[int] = []
    departures = heartbeats.Departures(lambda: looks.append(1) or len(looks) >= 2)
    events = departures.watch(iter([TextDelta("a"), Heartbeat(), Heartbeat(), Heartbeat()]))
    assert next(events) == TextDelta("a") and next(events) == Heartbeat()
    departures.writes += 1  # this heartbeat was a write (a comment): no look
    assert next(events) == Heartbeat() and looks == []
    assert next(events) == Heartbeat() and looks == [1]  # wrote nothing: looked, still there
    with pytest.raises(heartbeats.ClientLeft):
        next(events)
