"""The admin API (admin key only) and the admin page."""

from __future__ import annotations

import time

import pytest
import requests

from tests import fake_upstream as fu
from tests.support.accounts import (
    ADMIN,
    OTHER_KEY,
    USER,
    USER_KEY,
    chat,
    keyed,
    tokens,
    used_tokens,
)


@pytest.fixture
def admin_gateway(start_gateway, settings, tmp_path):
    a, b = tokens(2)
    accounts = f"{a},demo@example.com:demo-password"
    gateway = start_gateway(keyed(settings, tmp_path / "data", accounts=accounts))
    gateway.tokens = (a, b)
    return gateway


def api(gateway, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, gateway.url + "/admin/api/" + path, headers=ADMIN, **kwargs)


def listed(gateway) -> list[dict]:
    r = api(gateway, "GET", "accounts")
    assert r.status_code == 200, r.text
    return r.json()["accounts"]


def test_accounts_are_listed_masked_with_state_and_usage(admin_gateway, fake):
    a, _ = admin_gateway.tokens
    assert chat(admin_gateway.url).status_code == 200
    r = api(admin_gateway, "GET", "accounts")
    body = r.text
    assert a not in body and "demo-password" not in body and "demo@example.com" not in body
    token_account, email_account = r.json()["accounts"]
    assert token_account["alias"].startswith("acct-") and token_account["token"] == "…" + a[-4:]
    assert token_account["state"] == "ready" and token_account["requests"] == 1
    assert token_account["token_expires"] and token_account["source"] == "env"
    assert email_account["email"] == "de***@example.com" and email_account["signs_in"]
    assert email_account["token"] is None  # not signed in yet: it signs in on first use
    assert r.json()["counts"]["ready"] == 2
    assert r.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_add_a_token_account_and_remove_it(admin_gateway, fake):
    _, b = admin_gateway.tokens
    added = api(admin_gateway, "POST", "accounts", json={"token": b})
    assert added.status_code == 201, added.text
    account = added.json()["account"]
    assert account["state"] == "ready" and account["source"] == "admin" and b not in added.text
    assert len(listed(admin_gateway)) == 3
    assert api(admin_gateway, "DELETE", f"accounts/{account['id']}").status_code == 200
    assert len(listed(admin_gateway)) == 2
    assert api(admin_gateway, "DELETE", f"accounts/{account['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"token": "bad-token-1"}, 400, "rejects this credential"),
        ({"token": fu.mint_token("x", exp=int(time.time()) - 10)}, 400, "expired"),
        ({"email": "demo@example.com", "password": "nope"}, 400, "refused the sign-in"),
        ({"email": "not-an-email"}, 400, "Send"),
        ([], 400, "JSON object"),
    ],
    ids=["rejected-token", "expired-token", "wrong-password", "incomplete", "not-an-object"],
)
def test_bad_accounts_are_refused_with_a_reason(admin_gateway, fake, body, status, words):
    r = api(admin_gateway, "POST", "accounts", json=body)
    assert r.status_code == status and words in r.json()["error"]["message"], r.text
    assert len(listed(admin_gateway)) == 2


def test_add_an_email_account_signs_in_and_refresh_signs_in_again(admin_gateway, fake):
    fake.accounts["second@example.com"] = "pw-2"
    r = api(
        admin_gateway, "POST", "accounts", json={"email": "second@example.com", "password": "pw-2"}
    )
    assert r.status_code == 201 and r.json()["account"]["token"], r.text
    account_id = r.json()["account"]["id"]
    again = api(admin_gateway, "POST", f"accounts/{account_id}/refresh")
    assert again.status_code == 200 and again.json()["account"]["state"] == "ready"
    signin = "/api/v2/auths/signin" if fake.modern else "/api/v1/auths/signin"
    assert [x.path for x in fake.requests].count(signin) == 2
    token_only = listed(admin_gateway)[0]["id"]
    refused = api(admin_gateway, "POST", f"accounts/{token_only}/refresh")
    assert refused.status_code == 400 and "no password" in refused.text


def test_check_revives_a_live_account_and_buries_a_dead_one(admin_gateway, fake):
    a, _ = admin_gateway.tokens
    fake.enqueue_for(a, fu.http_error(401))
    assert chat(admin_gateway.url).status_code == 200  # A rejected, the demo account served
    dead = listed(admin_gateway)[0]
    assert dead["state"] == "dead" and "rejected" in dead["reason"]
    checked = api(admin_gateway, "POST", f"accounts/{dead['id']}/check")
    assert checked.json()["live"] is True and checked.json()["account"]["state"] == "ready"
    fake.valid_tokens = set()  # now chat.qwen.ai rejects every token
    checked = api(admin_gateway, "POST", f"accounts/{dead['id']}/check")
    assert checked.json()["live"] is False and checked.json()["account"]["state"] == "dead"
    assert api(admin_gateway, "POST", "accounts/nope/check").status_code == 404


def test_usage_per_caller_key(admin_gateway, fake):
    for headers in (USER, USER, {"Authorization": "Bearer " + OTHER_KEY}):
        assert chat(admin_gateway.url, headers=headers).status_code == 200
    fake.enqueue(fu.http_error(500))
    fake.enqueue(fu.http_error(500))
    assert chat(admin_gateway.url).status_code == 502
    r = api(admin_gateway, "GET", "keys")
    assert USER_KEY not in r.text and OTHER_KEY not in r.text
    first, second = r.json()["keys"]
    assert first["key"] == "…" + USER_KEY[-4:] and first["requests"] == 3
    assert first["failed"] == 1 and first["output_tokens"] > 0 and first["last_used"]
    assert second["requests"] == 1 and second["failed"] == 0
    assert len(used_tokens(fake)) == 5


def test_the_admin_page_is_a_static_shell(admin_gateway):
    page = requests.get(admin_gateway.url + "/admin")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert 'id="admin-login"' in page.text and "/static/admin.js" in page.text
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    home = requests.get(admin_gateway.url + "/")
    assert 'href="/admin"' in home.text  # in the navigation
    script = requests.get(admin_gateway.url + "/static/admin.js")
    assert script.status_code == 200 and "/admin/api/" in script.text
    assert "innerHTML" not in script.text


def test_without_an_admin_key_the_api_is_off(gateway):
    assert requests.get(gateway.url + "/admin/api/accounts", headers=ADMIN).status_code == 404
    page = requests.get(gateway.url + "/admin")
    assert page.status_code == 200 and "The admin API is off" in page.text
