"""chat.qwen.ai's own tools are switched off per account before requests that need it
(qwenfree/upstream/native_tools.py; reference §16.6). The 2026-09 fake records the switch in
``fake.tools_enabled[user]``; the legacy fake answers the endpoint 404."""

from __future__ import annotations

import dataclasses

import pytest
import requests

from qwenfree.upstream.native_tools import SETTINGS_UPDATE, TOOLS
from tests import fake_upstream as fu

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def ask(gateway, token: str, tools: bool) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    if tools:
        body["tools"] = [WEATHER]
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text


def switches(fake) -> int:
    return sum(r.path == SETTINGS_UPDATE for r in fake.requests)


@pytest.fixture
def modern(fake):
    fake.mode = fu.SEP_2026
    return fake


def test_a_request_with_tools_switches_the_accounts_tools_off_once(gateway, modern):
    token = fu.mint_token("acct-tools")
    ask(gateway, token, tools=False)
    assert switches(modern) == 0  # the default mode: only for requests with tools
    ask(gateway, token, tools=True)
    assert modern.tools_enabled[fu.user_of(token)] == dict.fromkeys(TOOLS, False)
    assert len(TOOLS) == 8
    ask(gateway, token, tools=True)
    assert switches(modern) == 1
    refreshed = fu.mint_token("acct-tools", exp=int(2e9))  # a new access token: again
    ask(gateway, refreshed, tools=True)
    assert switches(modern) == 2


@pytest.mark.parametrize(("mode", "expected"), [("always", 1), ("never", 0)])
def test_the_setting_chooses_when(start_gateway, settings, modern, mode, expected):
    gateway = start_gateway(dataclasses.replace(settings, native_tools_off=mode))
    ask(gateway, fu.mint_token("acct-mode"), tools=False)
    ask(gateway, fu.mint_token("acct-mode2"), tools=True)
    assert switches(modern) == {"always": 2, "never": 0}[mode]
    assert bool(modern.tools_enabled) is bool(expected)


def test_a_failed_switch_is_logged_and_the_answer_still_comes(gateway, fake, caplog):
    fake.mode = fu.LEGACY
    token = fu.mint_token("acct-legacy")  # the legacy fake has no such endpoint (404)
    ask(gateway, token, tools=True)
    assert switches(fake) == 1 and fake.completions()
    assert any("own tools off" in r.getMessage() for r in caplog.records)
    ask(gateway, token, tools=True)
    assert switches(fake) == 1  # not retried for the same token


def test_an_unknown_mode_is_refused_at_start(start_gateway, settings):
    with pytest.raises(ValueError, match="NATIVE_TOOLS_OFF"):
        start_gateway(dataclasses.replace(settings, native_tools_off="sometimes"))
