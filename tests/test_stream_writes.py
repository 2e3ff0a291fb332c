"""Heartbeats during a silent upstream and events already read leaving in one write: kept by
the upstream reader itself for a chat completion (no pump beside it), by the pump
(``interleave``) for any other source."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time

import pytest
import requests

from qwenfree import heartbeats
from qwenfree.events import Heartbeat, TextDelta
from qwenfree.upstream.stream import UpstreamStream
from tests import fake_upstream as fu
from tests.conftest import TOKEN, user
from tests.test_smoke import served  # noqa: F401 - the gunicorn fixture, reused

CLIENT = {"Authorization": "Bearer " + TOKEN}
BODY = {"messages": user(), "stream": True}


def test_a_silent_chat_stream_gets_heartbeats_from_its_reader_not_from_a_pump(
    start_gateway, settings, fake
):
    gateway = start_gateway(dataclasses.replace(settings, heartbeat_interval=0.1))
    fake.enqueue(fu.stall_after(["Hel"], 0.6, ["lo"]))
    threads: set[str] = set()
    raw = b""
    url = gateway.url + "/v1/chat/completions"
    with requests.post(url, json=BODY, headers=CLIENT, stream=True, timeout=10) as r:
        for chunk in r.iter_content(None):
            raw += chunk
            threads |= {t.name for t in threading.enumerate()}
    text = raw.decode()
    assert text.count(": ping\n\n") >= 3 and text.endswith("data: [DONE]\n\n")
    assert '"content":"Hel"' in text and '"content":"lo"' in text
    assert "stream-pump" not in threads


@pytest.fixture
def quick_heartbeats(monkeypatch, request):
    monkeypatch.setenv("QWENFREE_HEARTBEAT_INTERVAL", "0.1")
    return request.getfixturevalue("served")


def test_under_gunicorn_a_silence_pings_and_a_client_leaving_during_it_ends_the_upstream(
    quick_heartbeats, fake
):
    url = quick_heartbeats[0] + "/v1/chat/completions"
    fake.enqueue(fu.stall_after(["Hel"], 0.5, ["lo"]))
    text = requests.post(url, json=BODY, headers=CLIENT, timeout=10).text
    assert ": ping\n\n" in text and text.endswith("data: [DONE]\n\n")
    fake.enqueue(fu.stall_after(["Hel"], 10, ["lo"]))
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        body = requests.models.complexjson.dumps(BODY).encode()
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\n"
        head += f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        s.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        seen = b""
        while b"Hel" not in seen:
            seen += s.recv(65536)
    # Hung up during a 10 s silence: the next heartbeat's write fails and ends the upstream.
    assert fake.wait_until(lambda: fake.disconnects == 1 and fake.active_streams == 0, timeout=3)


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
    deadline = time.monotonic() + 5
    while not events.ready() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert events.ready() and next(events) == TextDelta("a")
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
