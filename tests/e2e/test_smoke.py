"""Smoke test of the real server: gunicorn + gevent worker, as `make serve` runs it."""

from __future__ import annotations

import signal

import requests

from tests import fake_upstream as fu
from tests.conftest import TOKEN, user


def post_stream(url, **headers):
    return requests.post(
        url + "/v1/chat/completions",
        stream=True,
        timeout=10,
        json={"messages": user(), "stream": True},
        headers={"Authorization": "Bearer " + TOKEN, **headers},
    )


def test_gunicorn_streams_unbuffered_and_closes_the_upstream_on_disconnect(served, fake):
    url = served.url
    fake.enqueue(fu.infinite(delay=0.05, max_seconds=10))
    with post_stream(url) as r:
        assert r.status_code == 200
        assert next(r.iter_lines()).startswith(b"data: ")
        assert fake.finished_streams == 0  # the event came while the upstream still streamed
    assert fake.wait_until(lambda: fake.disconnects == 1 and fake.active_streams == 0, timeout=5)

    fake.enqueue(fu.answer("Hello over gunicorn."))
    done = requests.post(
        url + "/v1/chat/completions",
        json={"messages": user()},
        headers={"Authorization": "Bearer " + TOKEN},
        timeout=10,
    )
    assert done.json()["choices"][0]["message"]["content"] == "Hello over gunicorn."


def test_sigterm_lets_an_open_stream_finish(served, fake):
    pieces = [f"p{i} " for i in range(20)]
    fake.enqueue(fu.answer("".join(pieces), pieces=pieces, delay=0.05))
    # A keep-alive connection: once the stream ended, it must not hold gunicorn for the
    # graceful timeout (20 s) waiting for a next request.
    with post_stream(served.url) as r:
        lines = r.iter_lines()
        assert next(lines).startswith(b"data: ")
        served.proc.send_signal(signal.SIGTERM)
        rest = [line for line in lines if line]
    assert rest[-1] == b"data: [DONE]"
    assert served.proc.wait(10) == 0
    output = served.output()
    assert "MonkeyPatchWarning" not in output and "Traceback" not in output, output
