"""Credentials that keep working for weeks (issue 16), against the fake in its 2026-09 mode:
15-minute access tokens, refresh tokens (rotating), v2 sign-in, and 401 for a caller's refused
credential in every dialect. Clocks are injected on both sides: the fake's (``fake.advance``)
and the gateway's keeper/pool (``clock``)."""

from __future__ import annotations

import dataclasses
import socket
import time

import anthropic
import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from tests import fake_upstream as fu
from tests.support.accounts import ADMIN, USER, Clock, chat, keyed

pytestmark = pytest.mark.timeout(60)
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def timed(gateway, clock: Clock):
    """Give the gateway's credential keeper (and pool) the test's clock."""
    ops = gateway.state.ops
    ops.keeper.clock = clock
    if ops.pool is not None:
        ops.pool.clock = clock
    return gateway


def advance(fake, clock: Clock, seconds: float) -> None:
    fake.advance(seconds)
    clock.now += seconds


def oai(gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=15)


def sent_tokens(fake) -> list[str]:
    return [r.headers["authorization"].removeprefix("Bearer ") for r in fake.completions()]


# ------------------------------------------------------------------------ pass-through mode


def test_a_refresh_token_keeps_a_session_working_through_many_expiries(
    site, start_gateway, settings, clock
):
    site.rotate_refresh = True
    rt = site.issue_refresh_token()
    gateway = timed(start_gateway(settings), clock)
    client = oai(gateway, "refresh_token=" + rt)
    for _ in range(8):  # 8 x 400 s: the 15-minute access token expires three times over
        answer = client.chat.completions.create(model="auto", messages=HI)
        assert answer.choices[0].message.content == fu.DEFAULT_TEXT
        advance(site, clock, 400)
    assert 3 <= site.refresh_calls <= 5  # ahead of each expiry, never per request
    assert site.punished == []
    assert len(set(sent_tokens(site))) == site.refresh_calls  # a new access token each time


def test_a_browser_cookie_string_works_and_seeds_the_jar(site, start_gateway, settings):
    rt = site.issue_refresh_token()
    gateway = start_gateway(settings)
    cookie = f"cna=abc123; refresh_token={rt}; x5sec=solved-captcha"
    assert oai(gateway, cookie).chat.completions.create(model="auto", messages=HI).choices
    last = site.last_completion()
    sent = last.headers["cookie"]
    assert "cna=abc123" in sent and "x5sec=solved-captcha" in sent and "refresh_token" not in sent


def test_refused_mid_life_refreshes_exactly_once_then_retries(site, start_gateway, settings):
    rt = site.issue_refresh_token()
    first = requests.get(
        site.url + "/api/v2/auths/refresh",
        headers={
            "Cookie": f"refresh_token={rt}",
            "x-request-origin": site.url,
            "X-Request-Id": "00000000-0000-4000-8000-000000000001",
            "Timezone": "Mon Dec 07 2026 10:00:00 GMT+0000",
            "source": "web",
            "Version": "0.3.12",
        },
    ).json()["data"]
    calls = site.refresh_calls
    gateway = start_gateway(settings)
    cookie = f"token={first['access_token']}; refresh_token={first['refresh_token']}"
    site.enqueue(fu.http_error(401))  # goes out as HTTP 200 + x-actual-status-code: 401
    answer = oai(gateway, cookie).chat.completions.create(model="auto", messages=HI)
    assert answer.choices[0].message.content == fu.DEFAULT_TEXT
    assert site.refresh_calls == calls + 1 and len(site.completions()) == 2


def test_the_newest_refresh_token_survives_a_restart(site, start_gateway, settings):
    site.rotate_refresh = True
    rt = site.issue_refresh_token()
    key = "refresh_token=" + rt
    first = start_gateway(settings)
    assert oai(first, key).chat.completions.create(model="auto", messages=HI).choices
    first.state.close()
    site.advance(3600)  # the first access token expired; the original refresh token is used up
    second = start_gateway(settings)  # same data_dir: the rotated pair is in the store
    assert oai(second, key).chat.completions.create(model="auto", messages=HI).choices
    states = {r.state for r in site.refresh_tokens.values()}
    assert "revoked" not in states  # the used-up token was never sent again


def test_a_revoked_session_is_a_401_that_says_what_to_do(site, start_gateway, settings):
    rt = site.issue_refresh_token()
    site.revoke(rt)
    gateway = start_gateway(settings)
    with pytest.raises(openai.AuthenticationError) as info:
        oai(gateway, "refresh_token=" + rt).chat.completions.create(model="auto", messages=HI)
    message = str(info.value)
    assert "令牌已撤销" in message and "Sign in at chat.qwen.ai" in message
    assert site.completions() == []


def test_an_unreachable_auth_host_is_named_in_the_error(site, start_gateway, settings):
    """The refresh goes to another host than the chat (QWENFREE_AUTH_URL): when that host
    cannot be reached, the error names it, not chat.qwen.ai."""
    rt = site.issue_refresh_token()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    gateway = start_gateway(dataclasses.replace(settings, auth_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(openai.APIStatusError) as info:
        oai(gateway, "refresh_token=" + rt).chat.completions.create(model="auto", messages=HI)
    assert info.value.status_code == 502
    assert "cannot reach 127.0.0.1" in str(info.value), str(info.value)
    assert site.completions() == []


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
def test_a_wrong_token_is_401_in_every_dialect(site, start_gateway, settings, dialect):
    gateway = start_gateway(settings)
    wrong = fu.mint_token("someone", exp=int(time.time()) - 60)  # expired access token
    if dialect == "openai":
        with pytest.raises(openai.AuthenticationError) as info:
            oai(gateway, wrong).chat.completions.create(model="auto", messages=HI)
        assert "15 minutes" in str(info.value)
    elif dialect == "anthropic":
        client = anthropic.Anthropic(base_url=gateway.url, api_key=wrong, max_retries=0)
        with pytest.raises(anthropic.AuthenticationError) as info:
            client.messages.create(model="claude-opus-4-1-20250805", max_tokens=50, messages=HI)
        assert info.value.body["error"]["type"] == "authentication_error"
    else:
        client = genai.Client(
            api_key=wrong, http_options=genai_types.HttpOptions(base_url=gateway.url)
        )
        with pytest.raises(genai_errors.ClientError) as info:
            client.models.generate_content(model="gemini-2.5-pro", contents="hi")
        assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"


def test_401_only_when_every_credential_was_refused(site, start_gateway, settings):
    gateway = start_gateway(settings)
    good = site.issue_refresh_token()
    key = "bad-token-0001,refresh_token=" + good
    assert oai(gateway, key).chat.completions.create(model="auto", messages=HI).choices


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
def test_one_request_cannot_make_the_gateway_try_hundreds_of_credentials(
    site, start_gateway, settings, dialect
):
    """Each credential tried may cost the site a call; 300 in one key must not become 300+
    calls from the gateway's address (the anti-bot check would then meet every caller)."""
    gateway = start_gateway(settings)
    key = ",".join(f"bad-token-{i:04d}" for i in range(300))
    path, headers, body = {
        "openai": ("/v1/chat/completions", {"Authorization": f"Bearer {key}"}, {"messages": HI}),
        "anthropic": (
            "/v1/messages",
            {"x-api-key": key, "anthropic-version": "2023-06-01"},
            {"model": "claude-x", "max_tokens": 9, "messages": HI},
        ),
        "gemini": (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            {"x-goog-api-key": key},
            {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        ),
    }[dialect]
    before = len(site.requests)
    r = requests.post(gateway.url + path, json=body, headers=headers, timeout=30)
    assert r.status_code == 400, r.text
    assert "At most 10 credentials" in r.text
    assert len(site.requests) == before  # the site heard nothing


# ------------------------------------------------------------------------ server-held accounts


def test_an_account_held_as_a_refresh_token_refreshes_by_itself(
    site, start_gateway, settings, clock, tmp_path
):
    rt = site.issue_refresh_token()
    gateway = timed(
        start_gateway(keyed(settings, tmp_path / "data", accounts="refresh_token=" + rt)), clock
    )
    for _ in range(4):
        assert chat(gateway.url, model="auto").status_code == 200
        advance(site, clock, 800)
    assert site.refresh_calls >= 3 and site.punished == []


def test_v2_sign_in_takes_the_token_from_set_cookie(site, start_gateway, settings, tmp_path):
    accounts = "demo@example.com:demo-password"
    gateway = start_gateway(keyed(settings, tmp_path / "data", accounts=accounts))
    assert chat(gateway.url, model="auto").status_code == 200
    paths = [r.path for r in site.requests]
    assert "/api/v2/auths/signin" in paths and "/api/v1/auths/signin" not in paths
    assert fu.user_of(sent_tokens(site)[-1]) == fu.account_id("demo@example.com")


def test_v1_sign_in_is_the_fallback(site, start_gateway, settings, tmp_path):
    site.v2_signin, site.v1_signin = False, True
    gateway = start_gateway(
        keyed(settings, tmp_path / "data", accounts="demo@example.com:demo-password")
    )
    assert chat(gateway.url, model="auto").status_code == 200
    paths = [r.path for r in site.requests]
    assert paths.index("/api/v2/auths/signin") < paths.index("/api/v1/auths/signin")


def test_a_waf_page_at_sign_in_cools_the_account_and_never_says_wrong_password(
    site, start_gateway, settings, tmp_path
):
    site.signin_limit = 0  # every sign-in meets the WAF page
    gateway = start_gateway(
        keyed(settings, tmp_path / "data", accounts="demo@example.com:demo-password")
    )
    r = chat(gateway.url, model="auto")
    assert r.status_code in (429, 503)
    (account,) = requests.get(gateway.url + "/admin/api/accounts", headers=ADMIN).json()["accounts"]
    assert account["state"] == "cooling" and "anti-bot" in account["reason"]
    assert "password" not in account["reason"]


def test_sign_ins_are_spaced_across_accounts(site, start_gateway, settings, tmp_path):
    site.signin_limit = None
    accounts = "a@example.com:pw-a,b@example.com:pw-b"
    site.accounts.update({"a@example.com": "pw-a", "b@example.com": "pw-b"})
    s = keyed(settings, tmp_path / "data", accounts=accounts, signin_interval=1.0)
    gateway = start_gateway(s)
    started = time.monotonic()
    for _ in range(2):  # least recently used first: the second request takes the other account
        assert chat(gateway.url, model="auto").status_code == 200
    signins = [r for r in site.requests if r.path.endswith("/signin")]
    assert len(signins) == 2 and time.monotonic() - started >= 1.0


# ------------------------------------------------------------------------ the default model


def test_every_sdk_answers_when_the_site_no_longer_lists_the_old_default(
    site, start_gateway, settings
):
    assert "qwen3-max" not in [m["id"] for m in site.models]
    rt = site.issue_refresh_token()
    key = "refresh_token=" + rt
    gateway = start_gateway(dataclasses.replace(settings))
    oai(gateway, key).chat.completions.create(model="auto", messages=HI)
    a = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0)
    a.messages.create(model="claude-opus-4-1-20250805", max_tokens=50, messages=HI)
    g = genai.Client(api_key=key, http_options=genai_types.HttpOptions(base_url=gateway.url))
    g.models.generate_content(model="gemini-2.5-pro", contents="hi")
    models = {r.json["model"] for r in site.completions()}
    assert models == {site.models[0]["id"]}
    status = requests.get(gateway.url + "/status", headers=USER).json()
    assert status["default_model"] == site.models[0]["id"]


def test_token_check_names_the_form_and_the_expiry(site, start_gateway, settings):
    gateway = start_gateway(settings)
    check = lambda t: requests.post(gateway.url + "/token/check", json={"token": t}).json()  # noqa: E731
    access = fu.mint_token("someone")
    seen = check(access)
    assert seen["live"] and seen["kind"] == "access token" and seen["expires_at"]
    assert "refresh_token" in seen["advice"]
    rt = site.issue_refresh_token()
    assert check("refresh_token=" + rt) | {"expires_at": None} == {
        "live": True,
        "kind": "refresh token",
        "expires_at": None,
    }
    site.revoke(rt)
    gone = check("cna=x; refresh_token=" + site.issue_refresh_token() + "x")
    assert (
        gone["live"] is False and gone["kind"] == "browser cookies" and "Sign in" in gone["advice"]
    )


def test_a_block_page_cools_the_account_and_tells_the_operator_what_to_do(
    site, start_gateway, settings, tmp_path
):
    rt = site.issue_refresh_token()
    gateway = start_gateway(keyed(settings, tmp_path / "data", accounts="refresh_token=" + rt))
    site.enqueue(fu.aliyun_block())
    assert chat(gateway.url, model="auto").status_code == 502
    (account,) = requests.get(gateway.url + "/admin/api/accounts", headers=ADMIN).json()["accounts"]
    assert account["state"] == "cooling"
    assert "pass the check" in account["reason"] and "Cookie" in account["reason"]


def test_a_conversation_continues_in_its_chat_across_a_refresh(
    site, start_gateway, settings, clock
):
    rt = site.issue_refresh_token()
    gateway = timed(start_gateway(settings), clock)
    client = oai(gateway, "refresh_token=" + rt)
    first = client.chat.completions.create(model="auto", messages=HI)
    advance(site, clock, 1000)  # the access token that answered has expired and been replaced
    history = HI + [
        {"role": "assistant", "content": fu.DEFAULT_TEXT},
        {"role": "user", "content": "more"},
    ]
    client.chat.completions.create(
        model="auto", messages=history, extra_body={"conversation_id": first.id}
    )
    chats = [r.query["chat_id"] for r in site.completions()]
    assert len(chats) == 2 and chats[0] == chats[1]  # native continuation, not a replay
    assert site.refresh_calls == 2


def test_a_pasted_cookie_header_clears_a_challenge_and_rides_on_later_calls(
    site, start_gateway, settings, tmp_path
):
    rt = site.issue_refresh_token()
    gateway = start_gateway(keyed(settings, tmp_path / "data", accounts="refresh_token=" + rt))
    site.enqueue(fu.aliyun_block())
    assert chat(gateway.url, model="auto").status_code == 502
    accounts_url = gateway.url + "/admin/api/accounts"
    (account,) = requests.get(accounts_url, headers=ADMIN).json()["accounts"]
    r = requests.put(
        f"{accounts_url}/{account['id']}/cookie",
        json={"cookie": "cna=abc; x5sec=solved-by-a-person"},
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    assert r.json()["account"]["state"] == "ready"
    assert r.json()["account"]["cookies"] == ["cna", "x5sec"]  # names only
    assert "solved-by-a-person" not in r.text
    assert chat(gateway.url, model="auto").status_code == 200
    assert "x5sec=solved-by-a-person" in site.last_completion().headers["cookie"]
    user = requests.put(
        f"{accounts_url}/{account['id']}/cookie", json={"cookie": "a=b"}, headers=USER
    )
    assert user.status_code == 401


def test_one_refresh_token_in_two_forms_is_refreshed_once(site, start_gateway, settings):
    """A rotated refresh token used twice revokes the session: the two forms share one pair."""
    site.rotate_refresh = True
    rt = site.issue_refresh_token()
    gateway = start_gateway(settings)
    assert oai(gateway, "refresh_token=" + rt).chat.completions.create(model="auto", messages=HI)
    site.advance(30)  # past the rotation grace: the original refresh token is used up
    cookie = f"cna=abc; refresh_token={rt}"
    assert oai(gateway, cookie).chat.completions.create(model="auto", messages=HI)
    assert site.refresh_calls == 1
    assert {r.state for r in site.refresh_tokens.values()} != {"revoked"}


def test_a_comma_inside_a_cookie_header_does_not_split_the_credential(
    site, start_gateway, settings
):
    rt = site.issue_refresh_token()
    gateway = start_gateway(settings)
    cookie = f"refresh_token={rt}; _ga=GA1.2.3,4; cna=abc"
    for _ in range(2):
        assert oai(gateway, cookie).chat.completions.create(model="auto", messages=HI)
    assert site.refresh_calls == 1  # one credential, refreshed once
    bearers = {r.headers["authorization"] for r in site.completions()}
    assert len(bearers) == 1 and "cna=abc" not in next(iter(bearers))


def test_doubled_slashes_are_a_json_404_not_a_redirect(site, start_gateway, settings):
    gateway = start_gateway(settings)
    r = requests.post(
        gateway.url + "//v1//chat/completions",
        json={"messages": HI},
        headers={"Host": "evil.example"},
        allow_redirects=False,
    )
    assert r.status_code == 404 and "Location" not in r.headers
    assert r.headers["Content-Type"].startswith("application/json")
