"""Shared fixtures: the fake upstream on loopback, the gateway served over real HTTP in this
process (``start_gateway``), and the real server, gunicorn + gevent (``gunicorn``, ``served``).
Helpers shared by several test files live in tests/support/ (see tests/README.md)."""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from werkzeug.serving import make_server

from qwenfree import create_app
from qwenfree.settings import Settings
from tests.fake_upstream import FakeUpstream
from tests.support.served import Served, start_gunicorn

TOKEN = "test-token-0001"
# The dialect of the session's fake (what reset() restores): the site as it is now unless
# QWENFREE_FAKE_MODE=legacy runs the file against the mid-2026 site (`make test` does, for the
# core dialect files). Read here only; the gateway never sees it.
FAKE_MODE = os.environ.get("QWENFREE_FAKE_MODE") or None


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
def _one_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    # gunicorn started by a test runs one worker unless the test asks for more (the default
    # is one per core: tests reading /proc or counting on one process would see several).
    if not os.environ.get("WEB_CONCURRENCY"):
        monkeypatch.setenv("WEB_CONCURRENCY", "1")


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(mode=FAKE_MODE).start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(fake_server: FakeUpstream) -> Iterator[FakeUpstream]:
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def site(fake: FakeUpstream) -> FakeUpstream:
    """The fake as the September-2026 site, whatever ``QWENFREE_FAKE_MODE`` says: for tests of
    behaviour only that site has (header gate, refresh, v2 sign-in, moved media endpoints)."""
    fake.mode = "2026-09"
    return fake


@pytest.fixture
def settings(fake: FakeUpstream, tmp_path: Any) -> Settings:
    return Settings(
        upstream_url=fake.url,
        auth_url=fake.url,  # the fake serves auth.qwen.ai's refresh endpoint too
        connect_timeout=2.0,
        read_timeout=2.0,
        chat_ttl=-1,
        data_dir=str(tmp_path / "state"),
        warm_chats=0,  # one chats/new per request, as tests count them (test_warm_chats.py: on)
    )


@dataclasses.dataclass
class Gateway:
    url: str
    app: Any

    @property
    def state(self) -> Any:
        return self.app.extensions["qwenfree"]


@pytest.fixture
def start_gateway() -> Iterator[Callable[..., Gateway]]:
    """Start the app on a real loopback HTTP server; ``start_gateway(settings)``."""
    running: list[tuple[Any, Gateway]] = []

    def start(settings: Settings) -> Gateway:
        app = create_app(settings)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        # A short poll interval: shutdown() waits up to one interval, in every teardown.
        serve = functools.partial(server.serve_forever, poll_interval=0.02)
        threading.Thread(target=serve, daemon=True).start()
        gateway = Gateway(f"http://127.0.0.1:{server.server_port}", app)
        running.append((server, gateway))
        return gateway

    yield start
    for server, gateway in running:
        server.shutdown()
        server.server_close()
        gateway.state.close()


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway], settings: Settings) -> Gateway:
    return start_gateway(settings)


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0, timeout=15)


@pytest.fixture
def gunicorn(fake: FakeUpstream, tmp_path: Any) -> Iterator[Callable[..., Served]]:
    """``gunicorn(**env)``: the real server against the fake, as ``make serve`` runs it (one
    worker, chats not deleted unless ``env`` says otherwise); ``ready`` names the path to wait
    for. Every server still running at teardown is killed."""
    running: list[Served] = []

    def start(ready: str = "/healthz", **env: str) -> Served:
        env = {"QWENFREE_UPSTREAM_URL": fake.url, "QWENFREE_CHAT_TTL": "-1", **env}
        log = tmp_path / f"gunicorn-{len(running)}.log"
        running.append(start_gunicorn(env, log, ready=ready))
        return running[-1]

    yield start
    for served in running:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(5)


@pytest.fixture
def served(gunicorn: Callable[..., Served]) -> Served:
    """One real server whose SIGTERM drain (QWENFREE_GRACEFUL_TIMEOUT=20) outlasts any test's
    stream, so a test can stop it mid-stream and see the stream finish."""
    return gunicorn(QWENFREE_GRACEFUL_TIMEOUT="20")


def user(text: str = "hi") -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]
