"""Caller keys and per-key rate limits, through the official SDKs and plain HTTP."""

from __future__ import annotations

import dataclasses

import anthropic
import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors

from qwenfree import create_app
from qwenfree.auth import parse_rate
from tests.support.accounts import (
    ADMIN,
    ADMIN_KEY,
    OTHER_KEY,
    USER,
    USER_KEY,
    Clock,
    chat,
    keyed,
    tokens,
    used_tokens,
    with_clock,
)
from tests.support.models import MODEL

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def keyed_gateway(start_gateway, settings, tmp_path):
    return start_gateway(keyed(settings, tmp_path / "data", accounts=",".join(tokens(2))))


def openai_client(gateway, key):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=15)


def anthropic_client(gateway, key):
    return anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=15)


def genai_client(gateway, key):
    options = {"base_url": gateway.url, "api_version": "v1beta", "timeout": 15_000}
    return genai.Client(api_key=key, http_options=options)


@pytest.mark.parametrize("key", ["sk-wrong-key", ADMIN_KEY], ids=["wrong", "admin"])
def test_a_bad_key_is_401_in_each_dialect(keyed_gateway, fake, key):
    with pytest.raises(openai.AuthenticationError) as oa:
        openai_client(keyed_gateway, key).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert oa.value.body["code"] == "invalid_api_key"
    with pytest.raises(anthropic.AuthenticationError) as an:
        anthropic_client(keyed_gateway, key).messages.create(
            model="claude-sonnet-4", max_tokens=20, messages=MESSAGES
        )
    assert an.value.body["error"]["type"] == "authentication_error"
    google = genai_client(keyed_gateway, key)  # keep it: a dropped client closes itself
    with pytest.raises(genai_errors.ClientError) as ge:
        google.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert ge.value.code == 401 and ge.value.status == "UNAUTHENTICATED"
    assert fake.requests == []  # nothing reached the upstream


MISSING = [
    pytest.param(
        "/v1/chat/completions",
        {"model": MODEL, "messages": MESSAGES},
        {},
        lambda b: b["error"]["code"] == "invalid_api_key",
        id="openai",
    ),
    pytest.param(
        "/v1/messages",
        {"model": "claude-sonnet-4", "max_tokens": 9, "messages": MESSAGES},
        {"anthropic-version": "2023-06-01"},
        lambda b: b["type"] == "error" and b["error"]["type"] == "authentication_error",
        id="anthropic",
    ),
    pytest.param(
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"contents": [{"parts": [{"text": "hi"}]}]},
        {},
        lambda b: b["error"]["status"] == "UNAUTHENTICATED",
        id="gemini",
    ),
]


@pytest.mark.parametrize(("path", "body", "headers", "check"), MISSING)
def test_a_missing_key_is_401_in_each_dialect(keyed_gateway, fake, path, body, headers, check):
    r = requests.post(keyed_gateway.url + path, json=body, headers=headers)
    assert r.status_code == 401 and check(r.json()), r.text
    assert "Missing API key" in r.text and fake.requests == []


def test_a_valid_key_works_with_every_sdk_and_never_goes_upstream(keyed_gateway, fake):
    first = openai_client(keyed_gateway, USER_KEY).chat.completions.create(
        model=MODEL, messages=MESSAGES
    )
    second = anthropic_client(keyed_gateway, OTHER_KEY).messages.create(
        model="claude-sonnet-4", max_tokens=20, messages=MESSAGES
    )
    google = genai_client(keyed_gateway, USER_KEY)
    third = google.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert first.choices[0].message.content and second.content[0].text and third.text
    sent = [str(r.headers) + r.path + str(r.query) for r in fake.requests]
    assert not any(USER_KEY in s or OTHER_KEY in s for s in sent)
    assert set(used_tokens(fake)) <= set(keyed_gateway.state.settings.accounts.split(","))


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"Authorization": "Bearer " + USER_KEY}, {}),
        ({"x-api-key": USER_KEY}, {}),
        ({"x-goog-api-key": USER_KEY}, {}),
        ({}, {"key": USER_KEY}),
    ],
    ids=["bearer", "x-api-key", "x-goog-api-key", "query"],
)
def test_every_way_of_sending_the_key_is_accepted(keyed_gateway, headers, query):
    r = requests.get(keyed_gateway.url + "/v1/models", headers=headers, params=query)
    assert r.status_code == 200, r.text


def test_admin_and_caller_keys_open_only_their_own_routes(keyed_gateway):
    assert chat(keyed_gateway.url, headers=ADMIN).status_code == 401
    assert requests.get(keyed_gateway.url + "/admin/api/accounts", headers=USER).status_code == 401
    assert requests.get(keyed_gateway.url + "/admin/api/accounts").status_code == 401
    assert requests.get(keyed_gateway.url + "/admin/api/accounts", headers=ADMIN).ok
    for path in ("/healthz", "/readyz", "/metrics", "/", "/admin"):
        assert requests.get(keyed_gateway.url + path).status_code == 200, path


def test_the_rate_limit_is_per_key_in_each_dialect_and_rolls_over(
    start_gateway, settings, tmp_path, fake
):
    s = keyed(settings, tmp_path / "data", accounts=",".join(tokens(1)), rate_limit="2/minute")
    clock = Clock()
    clock.now = (clock.now // 60) * 60 + 1  # one second into a window
    gateway = with_clock(start_gateway(s), clock)
    assert [chat(gateway.url).status_code for _ in range(2)] == [200, 200]
    limited = chat(gateway.url)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "59"
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert "x-should-retry" not in limited.headers
    anth = requests.post(
        gateway.url + "/v1/messages",
        json={"model": "claude-sonnet-4", "max_tokens": 9, "messages": MESSAGES},
        headers={"x-api-key": USER_KEY, "anthropic-version": "2023-06-01"},
    )
    assert anth.status_code == 429 and anth.json()["error"]["type"] == "rate_limit_error"
    gem = requests.post(
        gateway.url + "/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [{"parts": [{"text": "hi"}]}]},
        headers={"x-goog-api-key": USER_KEY},
    )
    assert gem.status_code == 429 and gem.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert chat(gateway.url, headers={"Authorization": "Bearer " + OTHER_KEY}).status_code == 200
    count = requests.post(
        gateway.url + "/v1/messages/count_tokens",
        json={"model": "claude-sonnet-4", "messages": MESSAGES},
        headers={"x-api-key": USER_KEY},
    )
    assert count.status_code == 200  # counting tokens costs nothing upstream: not limited
    assert requests.get(gateway.url + "/healthz").status_code == 200
    clock.now += 60
    assert chat(gateway.url).status_code == 200
    assert len(fake.completions()) == 4


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"accounts": "tok-1"}, "QWENFREE_ACCOUNTS needs QWENFREE_API_KEYS"),
        ({"admin_key": "adm"}, "QWENFREE_ADMIN_KEY needs QWENFREE_API_KEYS"),
        ({"api_keys": "same", "admin_key": "same"}, "must differ"),
        ({"api_keys": "k", "rate_limit": "lots"}, "QWENFREE_RATE_LIMIT"),
    ],
)
def test_unsafe_or_malformed_key_settings_stop_the_start(settings, tmp_path, changes, message):
    changes = {"data_dir": str(tmp_path)} | changes
    with pytest.raises(ValueError, match=message):
        create_app(dataclasses.replace(settings, **changes))


def test_keys_do_not_change_client_token_mode(client, fake):
    """Without QWENFREE_API_KEYS the caller's key is still its upstream token."""
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert used_tokens(fake) == ["test-token-0001"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("60/minute", (60, 60.0)),
        ("10 per second", (10, 1.0)),
        ("1000/hour", (1000, 3600.0)),
        ("100/5minutes", (100, 300.0)),
        ("5/min", (5, 60.0)),
        ("2/day", (2, 86400.0)),
    ],
)
def test_rate_limit_spellings(spec, expected):
    assert parse_rate(spec) == expected


@pytest.mark.parametrize("spec", ["", "lots", "0/minute", "5/fortnight", "5"])
def test_malformed_rate_limits_are_refused(spec):
    with pytest.raises(ValueError, match="QWENFREE_RATE_LIMIT"):
        parse_rate(spec)
