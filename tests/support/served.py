"""The one launcher of the real server: ``gunicorn -c gunicorn.conf.py wsgi:app`` from the
repository root, as ``make serve`` runs it, on a free loopback port.

Tests get it through the conftest fixtures ``gunicorn`` (``gunicorn(QWENFREE_X="1")`` returns a
:class:`Served`; every server is stopped at teardown) and ``served`` (one server against the
session's fake, QWENFREE_GRACEFUL_TIMEOUT=20).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import requests

from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    """Whether ``url`` answers 2xx now (False while the server is not listening or booting)."""
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


@dataclasses.dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path  # stdout and stderr of gunicorn and its workers

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (gunicorn's graceful stop), SIGKILL if it outlives ``timeout``; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(5)


def start_gunicorn(
    env: Mapping[str, str], log: Path, ready: str = "/healthz", timeout: float = 20.0
) -> Served:
    """Start gunicorn with ``os.environ | env`` (PORT is chosen here) and wait until ``ready``
    answers; fail the test with the server's output when it does not (or exits first)."""
    port = free_port()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            COMMAND,
            cwd=ROOT,
            env={**os.environ, **env, "PORT": str(port)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    served = Served(f"http://127.0.0.1:{port}", proc, log)
    up = wait_until(
        lambda: proc.poll() is not None or answers(served.url + ready), timeout, interval=0.1
    )
    if not up or proc.poll() is not None:
        proc.kill()
        proc.wait(5)
        pytest.fail("gunicorn did not start:\n" + served.output())
    return served
