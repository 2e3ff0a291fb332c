"""Plain-``requests`` helpers for driving the fake chat.qwen.ai as a browser would (the
tests/unit/fake/test_fake_site*.py files); ``todays`` is the header set the client sent before §16."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest
import requests

from tests import fake_upstream as fu
from tests.support import sse

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
    return [data for _, data in sse.events(response)]


def failure(response: requests.Response) -> tuple[int, str, str]:
    """(x-actual-status-code, data.code, data.details) of a 2026-09 failure sent as HTTP 200."""
    assert response.status_code == 200, response.status_code
    data = response.json()["data"]
    return int(response.headers["x-actual-status-code"]), data["code"], data["details"]


def token_of(response: requests.Response) -> str:
    return response.cookies["token"]


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


def video_body(chat_id: str, size: str | None = "16:9", **changes: Any) -> dict:
    meta = {"size": size} if size else {}
    body = completion_body(chat_id, "t2v", meta=meta, size=size)
    body["messages"][0].update(changes)
    return body


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
