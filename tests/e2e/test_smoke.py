"""Smoke test of the real server: gunicorn + gevent worker, as `make serve` runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests import fake_upstream as fu
from tests.conftest import TOKEN, user

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(fake, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "QWENFREE_UPSTREAM_URL": fake.url,
        "WEB_CONCURRENCY": "1",
        "QWENFREE_CHAT_TTL": "-1",
        "QWENFREE_GRACEFUL_TIMEOUT": "20",
    }
    log = (tmp_path / "gunicorn.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/healthz", timeout=1).ok:
                break
        except requests.RequestException:  # not listening yet, or the worker still booting
            time.sleep(0.1)
    else:
        proc.kill()
        log.seek(0)
        output = log.read()
        log.close()
        pytest.fail("gunicorn did not start:\n" + output)
    yield url, proc, log
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
    log.close()


def post_stream(url):
    return requests.post(
        url + "/v1/chat/completions",
        stream=True,
        timeout=10,
        json={"messages": user(), "stream": True},
        headers={"Authorization": "Bearer " + TOKEN},
    )


def test_gunicorn_streams_unbuffered_and_closes_the_upstream_on_disconnect(served, fake):
    url, proc, log = served
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
    url, proc, log = served
    pieces = [f"p{i} " for i in range(20)]
    fake.enqueue(fu.answer("".join(pieces), pieces=pieces, delay=0.05))
    with post_stream(url) as r:
        lines = r.iter_lines()
        assert next(lines).startswith(b"data: ")
        proc.send_signal(signal.SIGTERM)
        rest = [line for line in lines if line]
    assert rest[-1] == b"data: [DONE]"
    assert proc.wait(25) == 0
    log.seek(0)
    output = log.read()
    assert "MonkeyPatchWarning" not in output and "Traceback" not in output, output
