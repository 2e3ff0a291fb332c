"""The fake chat.qwen.ai's 2026-09 credentials, driven with plain ``requests``: 15-minute access
tokens, refresh (rotation, revocation), v2/v1 sign-in, the sign-in limit, cookies (§16.1-16.4)."""

from __future__ import annotations

import hashlib
import json

import requests

from tests import fake_upstream as fu
from tests.support.fake_site import (
    DEMO,
    browser,
    failure,
    refresh,
    signin,
    token_of,
)

# --------------------------------------------------------------------------- tokens


def test_an_expired_or_invalid_token_is_unauthorized(site: fu.FakeUpstream) -> None:
    token = token_of(signin(site))
    ok = requests.get(site.url + "/api/v2/chats/", headers=browser(site, "/", token))
    assert ok.json()["success"]
    site.advance(site.access_ttl + 1)
    expired = requests.get(site.url + "/api/v2/chats/", headers=browser(site, "/", token))
    assert failure(expired) == (401, "Unauthorized", "token has expired")
    assert expired.json()["request_id"]
    for bad in ("bad-token", token[:-4] + "AAAA"):
        r = requests.get(site.url + "/api/v2/chats/", headers=browser(site, "/", bad))
        assert failure(r) == (401, "Unauthorized", "invalid token")


def test_the_token_may_come_as_bearer_or_cookie(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("u1")
    bearer = browser(site, "/", None, Authorization=f"Bearer {token}")
    assert requests.get(site.url + "/api/v2/chats/", headers=bearer).json()["success"]
    cookie = browser(site, "/", token)
    assert requests.get(site.url + "/api/v2/chats/", headers=cookie).json()["success"]


def test_refresh_mints_a_short_access_token(site: fu.FakeUpstream) -> None:
    site.clock = lambda: 2_000_000_000.0  # injected: no sleeps, no wall clock
    rt = site.issue_refresh_token(email="demo@example.com")
    r = refresh(site, rt)
    data = r.json()["data"]
    assert r.headers["x-actual-status-code"] == "200"
    assert data["refresh_token"] == rt  # no rotation by default
    assert data["expires_at"] == 2_000_000_000 + 900
    assert r.cookies["token"] == data["access_token"] and r.cookies["refresh_token"] == rt
    chats = requests.get(
        site.url + "/api/v2/chats/", headers=browser(site, "/", data["access_token"])
    )
    assert chats.json()["success"]
    assert site.refresh_calls == 1
    assert failure(refresh(site, rt, **{"x-request-origin": None}))[2] == "Missing origin"
    assert failure(refresh(site, rt, Timezone=None))[2] == "Invalid request header"
    assert failure(refresh(site, rt, **{"X-Request-Id": None}))[2] == "Invalid request header"
    assert failure(refresh(site, "nonsense"))[:2] == (401, "Unauthorized")
    assert failure(refresh(site, None))[:2] == (401, "Unauthorized")
    assert site.refresh_calls == 6
    # A refresh token is not an access token.
    assert failure(requests.get(site.url + "/api/v2/chats/", headers=browser(site, "/", rt)))[
        2
    ] == ("invalid token")


def test_rotation_keeps_the_newest_and_a_reused_old_token_revokes_the_session(
    site: fu.FakeUpstream,
) -> None:
    site.rotate_refresh = True
    first = site.issue_refresh_token()
    second = refresh(site, first).json()["data"]["refresh_token"]
    assert second != first
    # Concurrent use: within the grace the old one yields the same successor.
    assert refresh(site, first).json()["data"]["refresh_token"] == second
    third = refresh(site, second).json()["data"]["refresh_token"]
    site.advance(site.rotate_grace + 1)
    assert failure(refresh(site, first)) == (401, "Unauthorized", fu.REVOKED)
    assert failure(refresh(site, third)) == (401, "Unauthorized", fu.REVOKED)


def test_revoked_and_expired_refresh_tokens(site: fu.FakeUpstream) -> None:
    rt = site.issue_refresh_token()
    site.revoke(rt)
    assert failure(refresh(site, rt)) == (401, "Unauthorized", "令牌已撤销，请重新登录")
    old = site.issue_refresh_token()
    site.advance(site.refresh_ttl + 1)
    assert failure(refresh(site, old)) == (401, "Unauthorized", "token has expired")


# --------------------------------------------------------------------------- sign-in


def test_signin_v2_puts_the_tokens_only_in_cookies(site: fu.FakeUpstream) -> None:
    r = signin(site)
    body = r.json()
    assert body["success"] and body["data"]["email"] == "demo@example.com"
    assert "token" not in json.dumps(body)
    token, rt = r.cookies["token"], r.cookies["refresh_token"]
    assert site.refresh_tokens[rt].email == "demo@example.com"
    assert requests.get(site.url + "/api/v2/chats/", headers=browser(site, "/", token)).json()[
        "success"
    ]
    wrong = signin(site, password="nope")
    assert failure(wrong)[:2] == (400, "Bad_Request")


def test_signin_v1_is_gone_unless_switched_on(site: fu.FakeUpstream) -> None:
    digest = hashlib.sha256(DEMO[1].encode()).hexdigest()
    body = {"email": DEMO[0], "password": digest}
    url = site.url + "/api/v1/auths/signin"
    assert failure(requests.post(url, json=body, headers=browser(site, "/auth")))[:2] == (
        404,
        "Not_Found",
    )
    site.v1_signin = True
    r = requests.post(url, json=body, headers=browser(site, "/auth"))
    assert r.json()["token"] == r.cookies["token"]
    site.v2_signin = False
    assert failure(signin(site))[0] == 404


def test_too_many_signins_get_the_waf_page(site: fu.FakeUpstream) -> None:
    for _ in range(site.signin_limit):
        assert signin(site).json()["success"]
    blocked = signin(site)
    assert blocked.headers["content-type"].startswith("text/html")
    assert "aliyun_waf" in blocked.text
    site.advance(site.signin_window)
    assert signin(site).json()["success"]


# --------------------------------------------------------------------------- cookies


def test_the_site_sets_cookies_and_records_which_came_back(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("jar-user")
    jar = requests.Session()  # a client that keeps a cookie jar, like a browser
    jar.cookies.set("token", token)
    first = jar.get(site.url + "/api/v2/chats/", headers=browser(site, "/"))
    assert "acw_tc=" in first.headers["set-cookie"] and "HttpOnly" in first.headers["set-cookie"]
    jar.post(site.url + "/api/v2/chats/new", json={}, headers=browser(site, "/c/new-chat"))
    assert "x-ap" in jar.cookies
    site.require_cookies = True
    again = jar.get(site.url + "/api/v2/chats/", headers=browser(site, "/"))
    assert again.json()["success"] and "set-cookie" not in again.headers
    assert site.cookies_seen[fu.user_of(token)] == {"acw_tc", "x-ap"}
    # A client without a jar is punished once the site has set cookies for its account.
    bare = requests.get(site.url + "/api/v2/chats/", headers=browser(site, "/", token))
    assert "ret" in bare.json() and "cookie acw_tc: not sent back" in site.punished[-1][1]
