"""The browser the gateway imitates (issue 15): every call to chat.qwen.ai carries the profile's
header set and the account's cookies, failures are read from ``x-actual-status-code``, and each
one is logged as a line that names the endpoint, both statuses, the site's code and the profile.
Run against the fake in its 2026-09 mode, whose gate punishes any request a browser would not
send."""

from __future__ import annotations

import dataclasses
import json
import logging

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from qwenfree import create_app
from qwenfree.upstream.browser import BrowserProfile
from tests import fake_upstream as fu
from tests.conftest import TOKEN

PROFILE_HEADERS = {
    k.lower()
    for k in BrowserProfile().headers("http://x", "http://x/c/new-chat")
    if k != "Connection"
}


def every_dialect(gateway) -> None:
    """One answer per dialect, streamed and not, plus a follow-up in the same chat."""
    o = openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0)
    first = o.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    o.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "again"}],
        extra_body={"conversation_id": first.id},
    )
    list(
        o.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "x"}], stream=True
        )
    )
    a = anthropic.Anthropic(base_url=gateway.url, api_key=TOKEN, max_retries=0)
    a.messages.create(
        model="claude-opus-4-1-20250805",
        max_tokens=50,
        messages=[{"role": "user", "content": "hi"}],
    )
    with a.messages.stream(
        model="claude-opus-4-1-20250805",
        max_tokens=50,
        messages=[{"role": "user", "content": "hi"}],
    ) as stream:
        stream.get_final_message()
    g = genai.Client(api_key=TOKEN, http_options=genai_types.HttpOptions(base_url=gateway.url))
    g.models.generate_content(model="gemini-2.5-pro", contents="hi")
    list(g.models.generate_content_stream(model="gemini-2.5-pro", contents="hi"))


def test_every_call_carries_the_browser_header_set(site, start_gateway, settings):
    gateway = start_gateway(dataclasses.replace(settings, chat_ttl=0))
    every_dialect(gateway)
    assert site.wait_until(lambda: len(site.deleted_chats) >= 7)
    assert site.punished == []
    calls = [r for r in site.requests if r.path.startswith("/api/")]
    assert {r.path for r in calls} >= {"/api/models", "/api/v2/chats/new", fu.COMPLETIONS}
    for r in calls:
        missing = PROFILE_HEADERS - set(r.headers)
        assert not missing, f"{r.method} {r.path} lacks {sorted(missing)}"
        assert r.headers["accept"] == "application/json"
        assert not [h for h in r.headers if h.startswith("bx-")]
    ids = [r.headers["x-request-id"] for r in calls]
    assert len(set(ids)) == len(ids)


def test_the_site_cookies_come_back_on_later_calls(site, start_gateway, settings):
    gateway = start_gateway(settings)
    every_dialect(gateway)
    assert site.cookies_seen[fu.user_of(TOKEN)] >= {"acw_tc", "x-ap"}


def test_a_profile_file_replaces_the_built_in_one(site, start_gateway, settings, tmp_path):
    mac = {
        "name": "chrome-150-mac",
        "user_agent": (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36"
        ),
        "sec_ch_ua": '"Chromium";v="150", "Google Chrome";v="150", "Not/A)Brand";v="99"',
        "platform": '"macOS"',
        "web_version": "0.3.14",
        "extra_headers": {"x-extra": "1"},
    }
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(mac))
    gateway = start_gateway(dataclasses.replace(settings, browser_profile=str(path)))
    openai.OpenAI(
        base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0
    ).chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    sent = site.last_completion().headers
    assert sent["user-agent"] == mac["user_agent"] and sent["version"] == "0.3.14"
    assert sent["sec-ch-ua-platform"] == '"macOS"' and sent["x-extra"] == "1"
    assert site.punished == []


def test_a_profile_whose_hints_contradict_its_user_agent_is_refused(settings, tmp_path):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"sec_ch_ua": '"Chromium";v="120"'}))
    with pytest.raises(ValueError, match="sec_ch_ua"):
        create_app(dataclasses.replace(settings, browser_profile=str(path)))


def test_a_failure_is_one_log_line_with_both_statuses_code_and_profile(
    site, start_gateway, settings, caplog
):
    gateway = start_gateway(settings)
    site.enqueue(fu.site_error(429, "Too_Many_Requests", "slow down"))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0)
    with caplog.at_level(logging.WARNING, logger="qwenfree.upstream.client"):
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "hi"}]
            )
    (line,) = [r.getMessage() for r in caplog.records if "upstream failure" in r.getMessage()]
    assert "POST /api/v2/chat/completions http=200 actual=429 code=Too_Many_Requests" in line
    assert "profile=chrome-" in line and TOKEN not in line


def test_an_expired_token_in_the_status_header_is_a_rejected_token(site, start_gateway, settings):
    gateway = start_gateway(settings)
    site.enqueue(fu.http_error(401))  # HTTP 200 + x-actual-status-code: 401 + Unauthorized
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0)
    with pytest.raises(openai.AuthenticationError):  # pass-through: the caller's credential
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])


def test_an_answer_of_an_unknown_shape_is_named_as_such(site, start_gateway, settings):
    gateway = start_gateway(settings)
    site.enqueue(fu.unknown_frame(shape="output"))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert "shape" in str(info.value) and "make doctor" in str(info.value)
