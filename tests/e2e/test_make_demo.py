"""`make demo` stops cleanly (issue 14, newcomer edges): Ctrl-C in a terminal ends it without a
gevent SystemExit traceback or a make error, and however it is stopped (Ctrl-C, or SIGTERM to the
whole process group) the gateway deletes its chats on the fake before the fake goes away."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.models import MODEL
from tests.support.served import answers, free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
    pytest.mark.timeout(90),
]


def make_demo_args() -> list[str]:
    # RUNTIME_STAMP= : use the interpreter running the tests, never install anything.
    return [
        "make",
        "--no-print-directory",
        "demo",
        "RUNTIME_STAMP=",
        f"BIN={Path(sys.executable).parent}",
    ]


def ports_env() -> tuple[int, int, dict[str, str]]:
    port, fake_port = free_port(), free_port()
    env = {**os.environ, "PORT": str(port), "FAKE_PORT": str(fake_port)}
    env.pop("QWENFREE_CHAT_TTL", None)  # the default: chats wait for deletion at shutdown
    return port, fake_port, env


def wait_up(port: int) -> None:
    if not wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 30, interval=0.2):
        pytest.fail("make demo did not start")


def chat(port: int) -> None:
    r = requests.post(
        f"http://127.0.0.1:{port}/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": "Bearer demo-token"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_stops_the_demo_quietly_and_the_gateway_first():
    port, fake_port, env = ports_env()
    pid, fd = pty.fork()
    if pid == 0:  # the child: make, in a terminal, as a person runs it
        os.chdir(ROOT)
        os.execvpe("make", make_demo_args(), env)
    output = b""

    def pump(seconds: float) -> None:
        nonlocal output
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    output += os.read(fd, 65536)
                except OSError:
                    return

    try:
        wait_up(port)
        chat(port)
        pump(0.5)
        os.write(fd, b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground process group
        end = time.monotonic() + 30
        while time.monotonic() < end and os.waitpid(pid, os.WNOHANG) == (0, 0):
            pump(0.2)
        pump(0.5)
    finally:
        os.close(fd)
    text = output.decode(errors="replace")
    assert "Traceback" not in text and "SystemExit" not in text, text[-3000:]
    assert "make: ***" not in text, text[-3000:]  # no "Error 130"
    assert "could not delete upstream chat" not in text, text[-3000:]
    assert not listening(port) and not listening(fake_port)


def test_sigterm_to_the_process_group_still_stops_the_gateway_first():
    port, fake_port, env = ports_env()
    proc = subprocess.Popen(
        make_demo_args(),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as under a supervisor
    )
    try:
        wait_up(port)
        chat(port)
        os.killpg(proc.pid, signal.SIGTERM)
        text = proc.communicate(timeout=30)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    # make may exit before its shell's EXIT trap finishes
    wait_until(lambda: not (listening(port) or listening(fake_port)), timeout=10, interval=0.2)
    assert "could not delete upstream chat" not in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert not listening(port) and not listening(fake_port)
