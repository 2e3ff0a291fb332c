"""Heartbeats over real HTTP: a silent chat completion is kept alive by the upstream reader
itself (no pump thread beside it), in-process and under gunicorn, where a client leaving during
the silence ends the upstream call at once. The reader's own logic: tests/unit/test_heartbeats.py."""

from __future__ import annotations

import dataclasses
import socket
import threading

import pytest
import requests

from tests import fake_upstream as fu
from tests.conftest import TOKEN, user

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
def quick_heartbeats(gunicorn):
    return gunicorn(QWENFREE_HEARTBEAT_INTERVAL="0.1")


def test_under_gunicorn_a_silence_pings_and_a_client_leaving_during_it_ends_the_upstream(
    quick_heartbeats, fake
):
    url = quick_heartbeats.url + "/v1/chat/completions"
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


GEMINI = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def _hang_up_after_first_piece(
    url: str, path: str, headers: dict[str, str], fake: fu.FakeUpstream | None = None
) -> None:
    """Send the request, then hang up once ``Hel`` arrived (or, given ``fake``, once the
    upstream sent it: an answer sent whole shows nothing before its end)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        body = requests.models.complexjson.dumps(GEMINI_BODY).encode()
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        if fake is not None:
            assert fake.wait_until(lambda: fake.active_streams == 1, timeout=5)
            return
        seen = b""
        while b"Hel" not in seen:
            got = s.recv(65536)
            assert got, seen
            seen += got


def test_a_gemini_client_leaving_during_a_silence_ends_the_upstream(gunicorn, fake):
    """Gemini's heartbeat is no bytes (one whole response per ``data:`` line), so no write can
    fail: the heartbeat tick looks at the client's socket instead."""
    served = gunicorn(
        QWENFREE_HEARTBEAT_INTERVAL="0.5",
        QWENFREE_API_KEYS="caller-key",
        QWENFREE_ACCOUNTS=TOKEN,
        QWENFREE_ACCOUNT_CONCURRENCY="1",
    )
    fake.enqueue(fu.stall_after(["Hel"], 10, ["lo"]))
    _hang_up_after_first_piece(served.url, GEMINI, {"x-goog-api-key": "caller-key"})
    assert fake.wait_until(lambda: fake.disconnects == 1 and fake.active_streams == 0, timeout=3)
    # The account's one slot is free again: the next call streams instead of a 429.
    url = served.url + GEMINI
    r = requests.post(url, json=GEMINI_BODY, headers={"x-goog-api-key": "caller-key"}, timeout=10)
    assert r.status_code == 200 and r.text.startswith("data: ")


def test_a_gemini_client_leaving_a_json_array_stream_during_a_silence_ends_the_upstream(
    gunicorn, fake
):
    """Without ``alt=sse`` the chunks leave as one JSON array at the end: nothing is written
    before, so only a look at the client's socket tells that it left."""
    served = gunicorn(QWENFREE_HEARTBEAT_INTERVAL="0.5")
    fake.enqueue(fu.stall_after(["Hel"], 10, ["lo"]))
    path = GEMINI.removesuffix("?alt=sse")
    _hang_up_after_first_piece(served.url, path, {"x-goog-api-key": TOKEN}, fake)
    assert fake.wait_until(lambda: fake.disconnects == 1 and fake.active_streams == 0, timeout=3)
    fake.enqueue(fu.stall_after(["Hel"], 0.6, ["lo"]))  # a client that stays gets it all
    r = requests.post(served.url + path, json=GEMINI_BODY, headers={"x-goog-api-key": TOKEN})
    assert r.status_code == 200
    assert (
        "".join(p["text"] for c in r.json() for p in c["candidates"][0]["content"]["parts"])
        == "Hello"
    )
