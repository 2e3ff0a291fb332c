"""Edges an outside test found (issue 14, item 6): a garbage video id must not lease accounts,
and errors on Gemini paths come back in Google's shape whichever route matched."""

from __future__ import annotations

import pytest
import requests

from tests.support.accounts import ADMIN, USER, keyed, tokens

GARBAGE_VIDEO_IDS = [
    "video_a.b.c",  # three parts, but not ids the gateway issued
    "video_x.y.0123456789",
    "video_" + "a" * 3000 + ".b.0123456789",
    "video_a..0123456789abcdef",
    "video_a%3Fb.c.0123456789",
    "nope",
]


def test_a_garbage_video_id_is_404_before_any_account_is_leased(
    start_gateway, settings, tmp_path, fake
):
    gateway = start_gateway(keyed(settings, tmp_path / "data", accounts=",".join(tokens(2))))
    for video_id in GARBAGE_VIDEO_IDS:
        for suffix in ("", "/content"):
            r = requests.get(f"{gateway.url}/v1/videos/{video_id}{suffix}", headers=USER)
            assert r.status_code == 404, (video_id, r.text)
            assert r.json()["error"]["type"] == "invalid_request_error"
    accounts = requests.get(gateway.url + "/admin/api/accounts", headers=ADMIN).json()
    assert [a["requests"] for a in accounts["accounts"]] == [0, 0]  # no lease was taken
    assert fake.requests == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/models/gemini-2.5-flash:generateContent", 404),
        ("PUT", "/v1/models/gemini-2.5-flash:generateContent", 405),
        ("DELETE", "/v1/models/gemini-2.5-flash:streamGenerateContent", 405),
        ("PUT", "/v1beta/models/gemini-2.5-flash:generateContent", 405),
        ("GET", "/v1beta/no-such-thing", 404),
    ],
)
def test_errors_on_gemini_paths_are_in_googles_shape(gateway, method, path, status):
    r = requests.request(method, gateway.url + path)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == status and isinstance(error["status"], str), error


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/chat/completions", {"x-goog-api-key": "k", "Authorization": "Bearer k"}),
        ("/v1/chat/completions", {"anthropic-version": "2023-06-01", "Authorization": "Bearer k"}),
        ("/v1/messages", {"x-goog-api-key": "k", "anthropic-version": "2023-06-01"}),
    ],
)
def test_a_routes_own_dialect_wins_over_the_headers_sent_with_it(gateway, path, headers):
    """Headers pick the dialect only on shared paths (GET /v1/models): a bad body sent to the
    OpenAI route with Google's or Anthropic's header is still refused in the route's shape."""
    r = requests.post(gateway.url + path, json={"messages": "not a list"}, headers=headers)
    assert r.status_code == 400, r.text
    body = r.json()
    if path == "/v1/messages":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    else:
        assert "type" not in body and "status" not in body["error"], body  # OpenAI's shape
        assert body["error"]["type"] == "invalid_request_error"
