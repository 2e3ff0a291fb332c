"""The fake chat.qwen.ai itself, driven with plain ``requests`` (no gateway): the 2026-09 header
gate, wire status and ``version`` rule (upstream-chat-qwen-ai.md §16, tests/fake/README.md),
challenge scripts, legacy mode and the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests import fake_upstream as fu
from tests.support.fake_site import (
    browser,
    complete,
    completion_body,
    failure,
    frames,
    new_chat,
    todays,
)

# --------------------------------------------------------------------------- the header gate


def test_todays_header_set_is_punished_and_the_fake_says_why(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("u1")
    r = requests.post(site.url + "/api/v2/chats/new", json={}, headers=todays(site, token))
    assert r.status_code == 200 and "x-actual-status-code" not in r.headers
    assert r.json()["ret"][1].startswith("RGV587_ERROR::SM")
    assert "punish" in r.json()["data"]["url"]
    path, reason = site.punished[-1]
    assert path == "/api/v2/chats/new"
    for expected in (
        "accept: 'application/json, text/plain, */*'",
        "sec-fetch-dest: missing",
        "sec-fetch-mode: missing",
        "sec-fetch-site: missing",
        "sec-ch-ua: missing",
        "x-accel-buffering: missing",
        "referer: 'http",
        "bx-v: sent",
    ):
        assert expected in reason, reason
    assert site.chats == {}  # the WAF answered; the site never saw it


def test_event_stream_accept_is_punished_on_completions(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("u1")
    chat_id = new_chat(site, token)
    headers = browser(site, f"/c/{chat_id}", token, Accept="text/event-stream")
    r = requests.post(
        f"{site.url}{fu.COMPLETIONS}?chat_id={chat_id}",
        json=completion_body(chat_id),
        headers=headers,
    )
    assert "ret" in r.json()
    assert site.punished == [(fu.COMPLETIONS, site.punished[0][1])]
    assert "accept: 'text/event-stream'" in site.punished[0][1]


def test_the_browser_set_passes_a_whole_chat(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("u1")
    models = requests.get(site.url + "/api/models", headers=browser(site, "/", token))
    assert models.headers["x-actual-status-code"] == "200"
    chat_id = new_chat(site, token)
    r = complete(site, token, chat_id)
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["x-actual-status-code"] == "200"
    text = "".join(f["choices"][0]["delta"]["content"] for f in frames(r) if "choices" in f)
    assert text == fu.DEFAULT_TEXT
    read = requests.get(
        f"{site.url}/api/v2/chats/{chat_id}", headers=browser(site, f"/c/{chat_id}", token)
    )
    assert read.json()["data"]["id"] == chat_id
    gone = requests.delete(
        f"{site.url}/api/v2/chats/{chat_id}", headers=browser(site, f"/c/{chat_id}", token)
    )
    assert gone.json()["success"] and site.deleted_chats == [chat_id]
    assert site.punished == []


@pytest.mark.parametrize("header", [name for name, _, _ in fu.GATE])
def test_each_header_of_the_gate_is_required(site: fu.FakeUpstream, header: str) -> None:
    token = fu.mint_token("u1")
    # None drops a header, also one requests would add by itself (Accept, User-Agent).
    headers = {
        k: (None if k.lower() == header else v)
        for k, v in browser(site, "/c/new-chat", token).items()
    }
    r = requests.post(site.url + "/api/v2/chats/new", data=b"{}", headers=headers)
    assert "ret" in r.json()
    # urllib3 sends its own User-Agent when requests is told to send none.
    assert f"{header}: {'' if header == 'user-agent' else 'missing'}" in site.punished[-1][1]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sec-ch-ua": '"Chromium";v="139", "Google Chrome";v="139"'}, "sec-ch-ua:"),
        ({"sec-ch-ua-platform": '"macOS"'}, "sec-ch-ua-platform:"),
        ({"sec-ch-ua-mobile": "?1"}, "sec-ch-ua-mobile:"),
        ({"User-Agent": "python-requests/2.32"}, "user-agent:"),
        ({"Timezone": "Sun Dec 06 2026 10:00:00 GMT+0100 (heure d'été)"}, "timezone:"),
        ({"X-Request-Id": "not-a-uuid"}, "x-request-id:"),
        ({"Origin": "https://chat.qwen.ai"}, "origin:"),
        ({"Referer": None}, "referer: missing"),
        ({"bx-ua": "231!abc"}, "bx-ua: sent"),
        ({"bx-umidtoken": "T2gA"}, "bx-umidtoken: sent"),
    ],
)
def test_wrong_values_are_punished(site: fu.FakeUpstream, change: dict, reason: str) -> None:
    token = fu.mint_token("u1")
    r = requests.post(
        site.url + "/api/v2/chats/new",
        json={},
        headers=browser(site, "/c/new-chat", token, **change),
    )
    assert "ret" in r.json()
    assert reason in site.punished[-1][1]


def test_referer_names_the_chat_and_request_ids_are_not_reused(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("u1")
    chat_id = new_chat(site, token)
    wrong = requests.get(f"{site.url}/api/v2/chats/{chat_id}", headers=browser(site, "/", token))
    assert "ret" in wrong.json() and f"/c/{chat_id}" in site.punished[-1][1]
    created = requests.post(
        site.url + "/api/v2/chats/new", json={}, headers=browser(site, "/c/other", token)
    )
    assert "ret" in created.json() and "/c/new-chat" in site.punished[-1][1]
    headers = browser(site, "/", token)
    assert requests.get(site.url + "/api/v2/chats/", headers=headers).json()["success"]
    again = requests.get(site.url + "/api/v2/chats/", headers=headers)
    assert "ret" in again.json() and "x-request-id:" in site.punished[-1][1]


# --------------------------------------------------------------------------- wire status, version


def test_failures_are_http_200_with_the_real_status_in_a_header(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("u1")
    missing = complete(site, token, "no-such-chat")
    assert failure(missing) == (404, "Not_Found", fu.CHAT_GONE)
    assert failure(requests.get(site.url + "/api/v9/nothing", headers=browser(site)))[:2] == (
        404,
        "Not_Found",
    )
    chat_id = new_chat(site, token)
    site.enqueue(fu.rate_limited())
    status, code, _ = failure(complete(site, token, chat_id))
    assert (status, code) == (429, "RateLimited")
    site.enqueue(fu.http_error(401, b'{"detail":"Could not validate credentials"}'))
    assert failure(complete(site, token, chat_id)) == (
        401,
        "Unauthorized",
        "Could not validate credentials",
    )


def test_write_endpoints_need_the_version_header(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("u1")
    headers = browser(site, "/c/new-chat", token, version=None)
    created = requests.post(site.url + "/api/v2/chats/new", json={}, headers=headers)
    assert created.json()["success"]  # chats/new does not need it
    chat_id = created.json()["data"]["id"]
    r = requests.delete(
        f"{site.url}/api/v2/chats/{chat_id}",
        headers=browser(site, f"/c/{chat_id}", token, version=None),
    )
    assert failure(r)[:2] == (400, "Bad_Request")
    assert site.deleted_chats == []


# --------------------------------------------------------------------------- challenges


def test_challenge_scripts(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("u1")
    chat_id = new_chat(site, token)
    site.enqueue(fu.aliyun_block())
    blocked = complete(site, token, chat_id)
    assert blocked.status_code == 405 and "x-actual-status-code" not in blocked.headers
    assert "errors.aliyun.com" in blocked.text and "block_message" in blocked.text
    for shape in ("message", "list", "output"):
        site.enqueue(fu.unknown_frame("the site changed", shape=shape))
        odd = frames(complete(site, token, chat_id))
        content = [f for f in odd if "response.created" not in f][:-1]  # without the end mark
        assert content, shape
        for frame in content:  # no frame carries text where a parser of today looks for it
            delta = frame.get("choices", [{}])[0].get("delta", {})
            assert not isinstance(delta.get("content"), str), frame
    site.enqueue(fu.site_error(429, "Too_Many_Requests", "slow down"))
    assert failure(complete(site, token, chat_id)) == (429, "Too_Many_Requests", "slow down")


# --------------------------------------------------------------------------- legacy and the CLI


def test_the_default_is_the_site_as_it_is_now_and_reset_restores_it(fake: fu.FakeUpstream) -> None:
    for mode, want in ((None, fu.SEP_2026), (fu.LEGACY, fu.LEGACY)):
        other = fu.FakeUpstream(mode=mode)  # None: what the tests and `make demo` meet
        other.mode = fu.SEP_2026 if want == fu.LEGACY else fu.LEGACY
        other.reset()
        other.stop()
        assert other.mode == want
    fake.mode = fu.LEGACY if fake.mode == fu.SEP_2026 else fu.SEP_2026
    fake.reset()  # the session's fake: the mode QWENFREE_FAKE_MODE chose, else the default
    assert fake.mode == fake.default_mode


def test_legacy_mode_keeps_the_old_site(fake: fu.FakeUpstream) -> None:
    fake.mode = fu.LEGACY  # the switch back to the mid-2026 site
    token = fu.mint_token("u1")
    r = requests.post(fake.url + "/api/v2/chats/new", json={}, headers=todays(fake, token))
    assert r.json()["success"] and "x-actual-status-code" not in r.headers
    bad = requests.get(fake.url + "/api/v2/chats/", headers=todays(fake, "bad-token"))
    assert bad.status_code == 401 and bad.json() == {"detail": "Could not validate credentials"}
    for path in ("/api/v2/auths/refresh", "/api/v2/task/status/x"):
        assert requests.get(fake.url + path, headers=todays(fake, token)).status_code == 404
    assert fake.punished == [] and "set-cookie" not in r.headers


def test_the_cli_serves_either_mode(tmp_path: Path) -> None:
    script = Path(__file__).parents[2] / "fake_upstream.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--mode", "2026-09"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,  # run as a script from anywhere: tests/ itself is on sys.path
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "(2026-09)" in line, line
        url = line.rsplit(" ", 1)[1].strip()
        fake = type("Site", (), {"url": url})()
        models = requests.get(url + "/api/models", headers=browser(fake), timeout=5)
        assert "qwen3-max" not in models.text and models.headers["x-actual-status-code"] == "200"
        punished = requests.get(url + "/api/models", headers={"Accept": "*/*"}, timeout=5)
        assert "ret" in punished.json()
    finally:
        proc.terminate()
        proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
