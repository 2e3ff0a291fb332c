"""The fake chat.qwen.ai itself, driven with plain ``requests`` (no gateway): each rule of its
2026-09 mode (upstream-chat-qwen-ai.md §16, tests/fake/README.md), and that legacy mode keeps the
old behaviour."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import fake_upstream as fu

UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/140.0.0.0 Safari/537.36"
)
MODEL = "qwen3.8-plus"
DEMO = ("demo@example.com", "demo-password")


@pytest.fixture
def site(fake: fu.FakeUpstream) -> fu.FakeUpstream:
    fake.mode = fu.SEP_2026
    return fake


def browser(fake: fu.FakeUpstream, path: str = "/", token: str | None = None, **extra: Any) -> dict:
    """The browser's own fetch() headers (§16.1); ``extra`` overrides, None drops a header."""
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "User-Agent": UA,
        "sec-ch-ua": '"Chromium";v="140", "Not=A?Brand";v="24", "Google Chrome";v="140"',
        "sec-ch-ua-mobile": "?0",
        "sec-ch-ua-platform": '"Windows"',
        "Sec-Fetch-Dest": "empty",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": "same-origin",
        "Origin": fake.url,
        "Referer": fake.url + path,
        "Accept-Language": "en-US,en;q=0.9",
        "source": "web",
        "version": "0.3.12",
        "Timezone": "Sun Dec 06 2026 10:00:00 GMT+0000",
        "X-Request-Id": str(uuid.uuid4()),
        "X-Accel-Buffering": "no",
    }
    if token:
        headers["Cookie"] = f"token={token}"
    headers.update(extra)
    return {k: v for k, v in headers.items() if v is not None}


def todays(fake: fu.FakeUpstream, token: str, stream: bool = False) -> dict:
    """What the client sent before this change (qwen.py ``site()`` + client.py ``_headers``)."""
    headers = {
        "User-Agent": UA.replace("140", "138"),
        "Accept": "text/event-stream" if stream else "application/json, text/plain, */*",
        "Accept-Language": "en-US,en;q=0.9",
        "Origin": fake.url,
        "Referer": fake.url + "/",
        "source": "web",
        "version": "0.2.81",
        "bx-v": "2.5.36",
        "x-request-id": str(uuid.uuid4()),
        "timezone": "Sun Dec 06 2026 10:00:00 GMT+0000",
        "Authorization": f"Bearer {token}",
        "Cookie": f"token={token}",
    }
    return headers


def signin(
    fake: fu.FakeUpstream, email: str = DEMO[0], password: str = DEMO[1]
) -> requests.Response:
    digest = hashlib.sha256(password.encode()).hexdigest()
    return requests.post(
        fake.url + "/api/v2/auths/signin",
        json={"email": email, "password": digest},
        headers=browser(fake, "/auth"),
    )


def new_chat(fake: fu.FakeUpstream, token: str, chat_type: str = "t2t") -> str:
    r = requests.post(
        fake.url + "/api/v2/chats/new",
        json={"title": "New Chat", "models": [MODEL], "chat_type": chat_type},
        headers=browser(fake, "/c/new-chat", token),
    )
    assert r.json()["success"], r.text
    return r.json()["data"]["id"]


def completion_body(chat_id: str, chat_type: str = "t2t", **more: Any) -> dict:
    meta = {"subChatType": chat_type} | more.pop("meta", {})
    message = {
        "fid": str(uuid.uuid4()),
        "parentId": None,
        "childrenIds": [str(uuid.uuid4())],
        "role": "user",
        "content": "hi",
        "user_action": "chat",
        "files": more.pop("files", []),
        "models": [MODEL],
        "chat_type": chat_type,
        "feature_config": {"thinking_enabled": False, "output_schema": "phase"},
        "extra": {"meta": meta},
        "sub_chat_type": chat_type,
    }
    return {
        "stream": chat_type != "t2v",
        "version": "2.1",
        "incremental_output": True,
        "chat_id": chat_id,
        "chat_mode": "normal",
        "model": MODEL,
        "parent_id": None,
        "messages": [message],
    } | more


def complete(fake: fu.FakeUpstream, token: str, chat_id: str, body: dict | None = None):
    return requests.post(
        f"{fake.url}{fu.COMPLETIONS}?chat_id={chat_id}",
        json=body or completion_body(chat_id),
        headers=browser(fake, f"/c/{chat_id}", token),
    )


def frames(response: requests.Response) -> list[dict]:
    return [
        json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")
    ]


def failure(response: requests.Response) -> tuple[int, str, str]:
    """(x-actual-status-code, data.code, data.details) of a 2026-09 failure sent as HTTP 200."""
    assert response.status_code == 200, response.status_code
    data = response.json()["data"]
    return int(response.headers["x-actual-status-code"]), data["code"], data["details"]


def token_of(response: requests.Response) -> str:
    return response.cookies["token"]


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


def refresh(fake: fu.FakeUpstream, rt: str | None, **extra: Any) -> requests.Response:
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "source": "web",
        "Version": "0.3.12",
        "X-Request-Id": str(uuid.uuid4()),
        "Timezone": "Sun Dec 06 2026 10:00:00 GMT+0000",
        "Origin": fake.url,
        "x-request-origin": fake.url,
    } | ({"Cookie": f"refresh_token={rt}"} if rt else {})
    headers.update(extra)
    headers = {k: v for k, v in headers.items() if v is not None}
    return requests.get(fake.url + "/api/v2/auths/refresh", headers=headers)


def test_refresh_mints_a_short_access_token(site: fu.FakeUpstream) -> None:
    rt = site.issue_refresh_token(email="demo@example.com")
    r = refresh(site, rt)
    data = r.json()["data"]
    assert r.headers["x-actual-status-code"] == "200"
    assert data["refresh_token"] == rt  # no rotation by default
    assert data["expires_at"] == int(site.now()) + 900
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


# --------------------------------------------------------------------------- models, media, tools


def test_models_no_longer_list_qwen3_max(site: fu.FakeUpstream, fake: fu.FakeUpstream) -> None:
    models = requests.get(site.url + "/api/models", headers=browser(site)).json()["data"]
    ids = [m["id"] for m in models]
    assert "qwen3-max" not in ids and ids[0] == MODEL
    assert all(m["info"]["meta"]["max_context_length"] for m in models)
    site.mode = fu.LEGACY
    assert site.models[0]["id"] == "qwen3-max"


def video_body(chat_id: str, size: str | None = "16:9", **changes: Any) -> dict:
    meta = {"size": size} if size else {}
    body = completion_body(chat_id, "t2v", meta=meta, size=size)
    body["messages"][0].update(changes)
    return body


def test_video_needs_size_and_t2v_everywhere_and_status_moved_to_v2(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("video-user")
    chat_id = new_chat(site, token, "t2v")
    no_meta = completion_body(chat_id, "t2v", size="16:9")  # size only at the top level
    assert failure(complete(site, token, chat_id, no_meta))[:2] == (400, "Bad_Request")
    assert (
        failure(complete(site, token, chat_id, video_body(chat_id, sub_chat_type="t2t")))[0] == 400
    )
    assert failure(complete(site, token, chat_id, video_body(chat_id, size="2:1")))[0] == 400
    started = complete(site, token, chat_id, video_body(chat_id)).json()["data"]
    assert started["messages"][0]["size"] == "16:9"
    task = started["messages"][0]["extra"]["wanx"]["task_id"]
    status_url = f"{site.url}/api/v2/task/status/{task}"
    running = requests.get(status_url, headers=browser(site, f"/c/{chat_id}", token)).json()
    assert running["success"] and running["data"]["task_status"] == "running"
    done = requests.get(status_url, headers=browser(site, f"/c/{chat_id}", token)).json()["data"]
    assert done["task_status"] == "success" and done["content"].endswith(".mp4?key=abc")
    v1 = requests.get(f"{site.url}/api/v1/tasks/status/{task}", headers=browser(site, "/", token))
    assert failure(v1)[0] == 404
    nothing = requests.get(f"{site.url}/api/v2/task/status/nope", headers=browser(site, "/", token))
    assert failure(nothing) == (404, "Not_Found", "Task not found")


def test_an_unknown_task_status_is_passed_through(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("video-user")
    site.task_polls, site.task_outcome = 0, "moderated"
    chat_id = new_chat(site, token, "t2v")
    task = complete(site, token, chat_id, video_body(chat_id)).json()["data"]["messages"][0]
    url = f"{site.url}/api/v2/task/status/{task['extra']['wanx']['task_id']}"
    data = requests.get(url, headers=browser(site, "/", token)).json()["data"]
    assert data == data | {"task_status": "moderated", "content": ""}


def upload_image(fake: fu.FakeUpstream, token: str) -> dict:
    png = fu.PNG
    sts = requests.post(
        fake.url + "/api/v2/files/getstsToken",
        json={"filename": "a.png", "filesize": len(png), "filetype": "image"},
        headers=browser(fake, "/", token),
    ).json()["data"]
    put = requests.Request(
        "PUT",
        sts["file_url"].split("?")[0],
        data=png,
        headers={
            "Content-Type": "image/png",
            "Date": "Sun, 06 Dec 2026 10:00:00 GMT",
            "x-oss-security-token": sts["security_token"],
        },
    ).prepare()
    recorded = fu.Recorded("PUT", "", {}, {k.lower(): v for k, v in put.headers.items()}, png, None)
    signature = fu.oss_signature(
        sts["access_key_secret"], recorded, f"/{fu.BUCKET}/{sts['file_path']}"
    )
    put.headers["Authorization"] = f"OSS {sts['access_key_id']}:{signature}"
    assert requests.Session().send(put).status_code == 200
    return {"id": sts["file_id"], "url": sts["file_url"], "type": "image"}


def test_image_edit_answers_in_image_edit_tool(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("edit-user")
    image = upload_image(site, token)
    chat_id = new_chat(site, token, "image_edit")
    r = complete(site, token, chat_id, completion_body(chat_id, "image_edit", files=[image]))
    deltas = [f["choices"][0]["delta"] for f in frames(r) if "choices" in f]
    tool = [d for d in deltas if d["phase"] == "image_edit_tool"]
    assert len(tool) == 1 and tool[0]["name"] == "image_edit_tool"
    url = tool[0]["extra"]["tool_result"][0]["image"]
    assert requests.get(url).content == fu.PNG
    assert not [d for d in deltas if d["phase"] == "image_gen"]


def test_a_t2i_picture_only_in_the_chat(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("t2i-user")
    chat_id = new_chat(site, token, "t2i")
    site.enqueue(fu.image_in_chat_only())
    r = complete(site, token, chat_id, completion_body(chat_id, "t2i"))
    assert "/output/" not in r.text
    chat = requests.get(
        f"{site.url}/api/v2/chats/{chat_id}", headers=browser(site, f"/c/{chat_id}", token)
    ).json()["data"]
    answers = [m for m in chat["chat"]["messages"] if m["role"] == "assistant"]
    item = answers[-1]["content_list"][0]
    assert item["phase"] == "image_gen" and "/output/t2i/" in item["content"]


def test_native_tools_settings_are_recorded_per_account(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("tools-user")
    tools = {"web_search": False, "image_gen_tool": False, "code_interpreter": False}
    r = requests.post(
        site.url + "/api/v2/users/user/settings/update",
        json={"tools_enabled": tools},
        headers=browser(site, "/", token),
    )
    assert r.json()["success"]
    assert site.tools_enabled == {fu.user_of(token): tools}


# --------------------------------------------------------------------------- challenges


def test_challenge_scripts(site: fu.FakeUpstream) -> None:
    token = fu.mint_token("u1")
    chat_id = new_chat(site, token)
    site.enqueue(fu.aliyun_block())
    blocked = complete(site, token, chat_id)
    assert blocked.status_code == 405 and "x-actual-status-code" not in blocked.headers
    assert "errors.aliyun.com" in blocked.text and "block_message" in blocked.text
    for shape in ("message", "list", "output"):
        site.enqueue(fu.unknown_frame("odd", shape=shape))
        odd = frames(complete(site, token, chat_id))
        assert not any(
            "delta" in f["choices"][0]
            and isinstance(f["choices"][0]["delta"].get("content"), str)
            and f["choices"][0]["delta"]["content"]
            for f in odd
            if "choices" in f
        )
    site.enqueue(fu.site_error(429, "Too_Many_Requests", "slow down"))
    assert failure(complete(site, token, chat_id)) == (429, "Too_Many_Requests", "slow down")


# --------------------------------------------------------------------------- legacy and the CLI


def test_legacy_mode_keeps_the_old_site(fake: fu.FakeUpstream) -> None:
    assert fake.mode == fu.LEGACY
    token = fu.mint_token("u1")
    r = requests.post(fake.url + "/api/v2/chats/new", json={}, headers=todays(fake, token))
    assert r.json()["success"] and "x-actual-status-code" not in r.headers
    bad = requests.get(fake.url + "/api/v2/chats/", headers=todays(fake, "bad-token"))
    assert bad.status_code == 401 and bad.json() == {"detail": "Could not validate credentials"}
    for path in ("/api/v2/auths/refresh", "/api/v2/task/status/x"):
        assert requests.get(fake.url + path, headers=todays(fake, token)).status_code == 404
    assert fake.punished == [] and "set-cookie" not in r.headers


def test_the_cli_serves_either_mode(tmp_path: Path) -> None:
    script = Path(__file__).with_name("fake_upstream.py")
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
