"""Graceful shutdown under the real server (gunicorn + gevent): SIGTERM lets open streams of every
dialect finish, and the container's stop timeout leaves gunicorn the time it is promised.

tests/e2e/test_smoke.py checks one OpenAI stream; these do the same for Anthropic and Gemini, with
the same fixture (QWENFREE_GRACEFUL_TIMEOUT=20)."""

from __future__ import annotations

import json
import re
import signal

import pytest
import requests

from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support import sse
from tests.support.served import ROOT
from tests.support.waiting import wait_until

PIECES = [f"p{i} " for i in range(20)]
STREAMS = {
    "anthropic": (
        "/v1/messages",
        {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"},
        {
            "model": "claude-opus-4-8",
            "max_tokens": 100,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ),
    "gemini": (
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"x-goog-api-key": TOKEN},
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    ),
}


def text_of(dialect: str, evs: list[tuple[str | None, dict]]) -> str:
    if dialect == "anthropic":
        return "".join(d["delta"].get("text", "") for n, d in evs if n == "content_block_delta")
    parts = (p for _, d in evs for c in d.get("candidates", []) for p in c["content"]["parts"])
    return "".join(p.get("text", "") for p in parts)


def finished_normally(dialect: str, evs: list[tuple[str | None, dict]]) -> bool:
    if dialect == "anthropic":
        return evs[-1][0] == "message_stop" and not any(n == "error" for n, _ in evs)
    last = evs[-1][1]
    return last["candidates"][0].get("finishReason") == "STOP" and "error" not in last


@pytest.mark.parametrize("dialect", list(STREAMS))
def test_sigterm_lets_an_open_stream_of_each_dialect_finish(served, fake, dialect):
    path, headers, body = STREAMS[dialect]
    fake.enqueue(fu.answer("".join(PIECES), pieces=PIECES, delay=0.05))
    with requests.post(served.url + path, json=body, headers=headers, stream=True, timeout=20) as r:
        assert r.status_code == 200
        messages = sse.stream(r)
        head = [next(messages)]  # the stream is open and flowing ...
        served.proc.send_signal(signal.SIGTERM)  # ... when the server is told to stop
        evs = [(m.event, json.loads(m.data)) for m in [*head, *messages]]
    assert finished_normally(dialect, evs), evs[-3:]
    assert text_of(dialect, evs) == "".join(PIECES)
    assert served.proc.wait(25) == 0
    output = served.output()
    assert "Traceback" not in output and "MonkeyPatchWarning" not in output, output


def test_new_connections_are_refused_once_sigterm_arrived(served, fake):
    """While open streams drain, the listener is closed: a balancer sends new work elsewhere."""
    fake.enqueue(fu.answer("".join(PIECES), pieces=PIECES, delay=0.1))
    path, headers, body = STREAMS["anthropic"]
    with requests.post(served.url + path, json=body, headers=headers, stream=True, timeout=20) as r:
        messages = sse.stream(r)
        next(messages)
        served.proc.send_signal(signal.SIGTERM)

        def refused() -> bool:
            try:
                requests.get(served.url + "/healthz", timeout=1)
            except requests.ConnectionError:
                return True
            return False

        assert wait_until(refused, timeout=5)
        rest = list(messages)
    assert rest[-1].event == "message_stop"  # the open stream still finished
    assert served.proc.wait(25) == 0


def test_an_idle_keep_alive_connection_does_not_hold_a_graceful_stop(served):
    """A client that keeps its connection open between requests (every SDK does) must not make
    SIGTERM wait out the graceful timeout (20 s here; keep-alive 75 s)."""
    with requests.Session() as session:
        assert session.get(served.url + "/healthz", timeout=5).ok  # the connection stays open
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(10) == 0
    output = served.output()
    assert "Traceback" not in output and "[ERROR]" not in output, output


@pytest.mark.xfail(
    strict=True,
    reason="known gap: a stream still open at graceful_timeout is cut by SIGKILL without a "
    "terminal event (needs an app-level drain deadline; see the issue 8 report)",
)
def test_a_stream_outliving_the_graceful_timeout_ends_with_a_terminal_event(gunicorn, fake):
    served = gunicorn(QWENFREE_GRACEFUL_TIMEOUT="2")
    fake.enqueue(fu.infinite(delay=0.05, max_seconds=30))
    body = {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    with requests.post(
        served.url + "/v1/chat/completions",
        json=body,
        headers={"Authorization": "Bearer " + TOKEN},
        stream=True,
        timeout=20,
    ) as r:
        lines = r.iter_lines()
        next(lines)
        served.proc.send_signal(signal.SIGTERM)
        rest = []
        try:
            rest = [line for line in lines if line]
        except requests.RequestException:
            pass
    assert rest and (rest[-1] == b"data: [DONE]" or b'"error"' in rest[-1]), rest[-2:]


# ------------------------------------------------------------------------------ configuration


def test_the_container_stop_timeout_exceeds_the_graceful_timeout():
    """Compose must wait longer than gunicorn's drain, or SIGKILL cuts streams gunicorn would
    have let finish; the same default must hold in gunicorn.conf.py and run-docker.sh."""
    compose = (ROOT / "docker-compose.yml").read_text()
    grace = re.search(r"^\s*stop_grace_period:\s*(\d+)s\s*$", compose, re.M)
    drain = re.search(
        r"QWENFREE_GRACEFUL_TIMEOUT:\s*\$\{QWENFREE_GRACEFUL_TIMEOUT:-(\d+)\}", compose
    )
    assert grace and drain, "docker-compose.yml lost stop_grace_period or the graceful timeout"
    conf = (ROOT / "gunicorn.conf.py").read_text()
    conf_default = re.search(r'_env\("QWENFREE_GRACEFUL_TIMEOUT",\s*"(\d+)"\)', conf)
    assert conf_default, "gunicorn.conf.py no longer reads QWENFREE_GRACEFUL_TIMEOUT"
    run = (ROOT / "run-docker.sh").read_text()
    stop = re.search(r"^STOP_TIMEOUT=\$\{STOP_TIMEOUT:-(\d+)\}", run, re.M)
    assert stop, "run-docker.sh lost its STOP_TIMEOUT default"
    assert int(drain[1]) == int(conf_default[1]) == 90
    assert int(grace[1]) > int(drain[1]) and int(stop[1]) > int(drain[1])
