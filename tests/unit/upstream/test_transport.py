"""The upstream session: one explicit proxy (``QWENFREE_UPSTREAM_PROXY``), never the
environment's (requests would look it up again on every call)."""

from __future__ import annotations

from dataclasses import replace

import requests

from qwenfree.settings import Settings
from tests.conftest import TOKEN
from tests.support.accounts import chat

CLIENT = {"Authorization": "Bearer " + TOKEN}


def test_the_environment_proxy_is_not_read(start_gateway, settings, fake, monkeypatch):
    monkeypatch.delenv("NO_PROXY", raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    gateway = start_gateway(settings)
    caller = requests.Session()
    caller.trust_env = False  # the caller itself must reach the gateway directly
    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
    r = caller.post(gateway.url + "/v1/chat/completions", json=body, headers=CLIENT, timeout=20)
    assert r.status_code == 200


def test_upstream_proxy_carries_every_call(start_gateway, settings, fake):
    # The fake reads an absolute request target as a forward proxy would pass it on.
    proxied = replace(settings, upstream_url="http://upstream.invalid", upstream_proxy=fake.url)
    gateway = start_gateway(proxied)
    assert chat(gateway.url, headers=CLIENT).status_code == 200
    assert {r.headers["host"] for r in fake.requests} == {"upstream.invalid"}


def test_the_proxy_setting_is_read_from_the_environment():
    env = {"QWENFREE_UPSTREAM_PROXY": "http://proxy:3128"}
    assert Settings.from_env(env).upstream_proxy == "http://proxy:3128"
