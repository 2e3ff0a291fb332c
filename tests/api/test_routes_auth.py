"""The route table in server-account mode: every URL rule the app has needs a caller key, except
an explicit list of public ones, so a new blueprint cannot forget the key check.

The rules are read from ``app.url_map`` at test time: a route added tomorrow is tested tomorrow
without anyone editing this file (issue 14, item 1: the images/videos blueprint answered with
no key, a wrong key or the admin key, on the server's accounts).
"""

from __future__ import annotations

import re

import pytest
import requests

from qwenfree.ops import PUBLIC_ENDPOINTS
from tests import fake_upstream as fu
from tests.support.accounts import ADMIN, ADMIN_KEY, USER, USER_KEY, keyed, tokens

# Public on purpose; the homepage's live status reads the (cached) model list only.
ALLOWED_PUBLIC = {
    "static",  # CSS, JS, favicon
    "home.index",
    "home.status",
    "home.docs",
    "home.openapi_json",
    "health.ping",
    "health.hello",
    "health.healthz",
    "health.readyz",
    "metrics.metrics",
    "admin.page",  # a static shell that holds no data; its API needs the admin key
}
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # HEAD is GET; OPTIONS does no work
VALUES = {
    "model_id": "qwen3-max",
    "name": "gemini-2.5-flash:generateContent",
    "video_id": "video_0123456789abcdef",
    "account_id": "acct-1",
    "filename": "qwenfree.css",
}
WRONG = {"no key": {}, "wrong key": {"Authorization": "Bearer sk-wrong"}, "admin key": ADMIN}


@pytest.fixture
def keyed_gateway(start_gateway, settings, tmp_path):
    return start_gateway(keyed(settings, tmp_path / "data", accounts=",".join(tokens(2))))


def concrete(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: VALUES.get(m[1], "x1"), rule)


def api_routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) of every non-public rule."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ALLOWED_PUBLIC:
            continue
        for method in sorted(rule.methods - IGNORED_METHODS):
            found.append((rule.endpoint, method, concrete(rule.rule)))
    return found


def unauthorized_in_its_dialect(endpoint: str, r: requests.Response) -> bool:
    body = r.json()
    if endpoint.startswith("anthropic."):
        return body["type"] == "error" and body["error"]["type"] == "authentication_error"
    if endpoint.startswith("gemini."):
        return body["error"]["code"] == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    return body["error"]["type"] == "invalid_request_error" and "key" in body["error"]["message"]


def test_the_public_list_is_exactly_what_ops_lets_through(keyed_gateway):
    endpoints = {rule.endpoint for rule in keyed_gateway.app.url_map.iter_rules()}
    assert PUBLIC_ENDPOINTS | {"admin.page"} == ALLOWED_PUBLIC
    assert ALLOWED_PUBLIC <= endpoints  # a renamed public route must be renamed here too


def test_every_route_but_the_public_ones_is_401_without_a_caller_key(keyed_gateway, fake):
    routes = api_routes(keyed_gateway.app)
    assert {"images.generations", "images.get_video", "health.token_check"} <= {
        e for e, _, _ in routes
    }
    failures = []
    for endpoint, method, path in routes:
        admin_route = endpoint.startswith("admin.")
        cases = WRONG | {"caller key": USER} if admin_route else WRONG
        for case, headers in cases.items():
            if admin_route and case == "admin key":
                continue
            r = requests.request(method, keyed_gateway.url + path, headers=headers, json={})
            if r.status_code != 401 or not unauthorized_in_its_dialect(endpoint, r):
                failures.append(f"{method} {path} with {case}: {r.status_code} {r.text[:120]}")
    assert failures == []
    assert fake.requests == []  # nothing reached the upstream, no account was spent


def test_the_admin_key_opens_the_admin_api_in_headers_only(keyed_gateway):
    url = keyed_gateway.url + "/admin/api/accounts"
    assert requests.get(url, headers=ADMIN).status_code == 200
    assert requests.get(url, headers={"x-api-key": ADMIN_KEY}).status_code == 200
    # A query string ends up in access logs, proxies' logs and browser history.
    r = requests.get(url, params={"key": ADMIN_KEY})
    assert r.status_code == 401, r.text


def test_pictures_and_videos_count_against_the_key_and_its_rate_limit(
    start_gateway, settings, tmp_path, fake
):
    gateway = start_gateway(
        keyed(settings, tmp_path / "data", accounts=tokens(1)[0], rate_limit="2/minute")
    )
    fake.enqueue(fu.answer("", image_url="https://cdn.example/1.png"))
    fake.enqueue(fu.answer("", image_url="https://cdn.example/2.png"))
    draw = {"prompt": "a red fox", "model": "dall-e-3"}
    for _ in range(2):
        r = requests.post(gateway.url + "/v1/images/generations", json=draw, headers=USER)
        assert r.status_code == 200, r.text
    r = requests.post(gateway.url + "/v1/videos", json={"prompt": "a fox"}, headers=USER)
    assert r.status_code == 429 and r.json()["error"]["type"], r.text
    keys = requests.get(gateway.url + "/admin/api/keys", headers=ADMIN).json()["keys"]
    mine = next(k for k in keys if USER_KEY.endswith(k["key"].removeprefix("…")))
    assert mine["requests"] == 3 and mine["failed"] == 1, mine
