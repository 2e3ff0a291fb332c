"""Shared pieces of the server-account tests: keyed settings, an injectable clock, a throwaway
redis-server, and a gateway factory that swaps the pool's clock.

Import the ``redis_url`` fixture into a test module to use it (pytest finds fixtures by name in
the module's namespace).
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from qwenfree.settings import Settings
from tests import fake_upstream as fu
from tests.fake_upstream import mint_token
from tests.support.models import MODEL
from tests.support.served import free_port
from tests.support.waiting import wait_until

USER_KEY = "sk-user-key-0001-abcdef"
OTHER_KEY = "sk-user-key-0002-ghijkl"
ADMIN_KEY = "sk-admin-key-0001-zyxwvu"
USER = {"Authorization": "Bearer " + USER_KEY}
ADMIN = {"Authorization": "Bearer " + ADMIN_KEY}
REDIS_SERVER = shutil.which("redis-server")
NO_REDIS = "redis-server is not installed (apt-get install redis-server; .ci/install-redis.sh)"


class Clock:
    """Wall-clock time that tests move by hand (starts at the real time: JWT ``exp`` claims
    minted by the fake are real unix times)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def tokens(n: int) -> list[str]:
    """``n`` distinct long-lived JWT-shaped tokens the fake accepts."""
    return [mint_token(f"user-{i}") for i in range(n)]


def keyed(settings: Settings, data_dir: Path, **changes: Any) -> Settings:
    """Server-account settings: our keys, an admin key, state under ``data_dir``."""
    base = {
        "api_keys": f"{USER_KEY},{OTHER_KEY}",
        "admin_key": ADMIN_KEY,
        "data_dir": str(data_dir),
        "account_wait": 0.3,
        "signin_interval": 0.0,  # spacing has its own test (tests/unit/upstream/test_credentials.py)
    }
    return dataclasses.replace(settings, **(base | changes))


def with_clock(gateway: Any, clock: Clock) -> Any:
    """Put ``clock`` into every piece of the gateway that reads the time."""
    ops = gateway.state.ops
    ops.clock = clock
    if ops.pool is not None:
        ops.pool.clock = clock
    if ops.limit is not None:
        ops.limit.clock = clock
    return gateway


def chat(url: str, headers: dict[str, str] | None = None, **extra: Any) -> requests.Response:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]} | extra
    return requests.post(url + "/v1/chat/completions", json=body, headers=headers or USER)


def used_tokens(fake: Any) -> list[str]:
    """The bearer token of every completion the fake received, in order."""
    return [c.headers["authorization"].removeprefix("Bearer ") for c in fake.completions()]


def signins(fake: Any) -> list[Any]:
    """The sign-ins the fake answered: v2 on the 2026-09 site, v1 on the legacy one (where the
    client's v2 attempt meets a 404 first)."""
    path = "/api/v2/auths/signin" if fake.modern else "/api/v1/auths/signin"
    return [r for r in fake.requests if r.path == path]


def signin_reply(fake: Any, email: str = "demo@example.com") -> tuple[fu.Script, str]:
    """A good sign-in answer in the fake's current dialect and the path it answers, to enqueue
    (e.g. delayed): v2 puts the tokens in cookies, v1 the token in the body."""
    token = mint_token(fu.account_id(email), type="access_token")
    if not fake.modern:
        return fu._json(200, {"token": token}), "/api/v1/auths/signin"
    cookies = [f"token={token}; Path=/", f"refresh_token={fake.issue_refresh_token(email=email)}"]
    body = {"success": True, "data": {"id": fu.account_id(email), "email": email, "role": "user"}}
    return fu._json(200, body, headers={"Set-Cookie": cookies}), "/api/v2/auths/signin"


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A private redis-server on a free loopback port, without persistence; (process, url)."""
    assert REDIS_SERVER is not None
    port = free_port()
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--daemonize", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return proc.poll() is not None  # exited: stop waiting

    if not wait_until(listening, timeout=10, interval=0.05) or proc.poll() is not None:
        proc.kill()
        pytest.fail("redis-server did not start")
    return proc, f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The session's redis-server (skipped, saying why, when the binary is missing)."""
    if REDIS_SERVER is None:
        pytest.skip(NO_REDIS)
    proc, url = start_redis()
    yield url
    proc.terminate()
    proc.wait(5)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    return redis_server
