"""Small endpoints, request ids, settings and upstream chat clean-up."""

from __future__ import annotations

import dataclasses

import pytest
import requests

from qwenfree.settings import Settings
from tests import fake_upstream as fu
from tests.conftest import TOKEN, user
from tests.support.models import MODEL


def test_ping_health_and_ready(gateway, fake):
    assert requests.get(gateway.url + "/ping").text == "pong"
    assert requests.get(gateway.url + "/healthz").json() == {"status": "ok"}
    assert requests.get(gateway.url + "/readyz").json()["status"] == "ready"
    assert requests.head(gateway.url + "/").status_code == 200
    assert fake.requests == []  # none of these call the upstream


def test_request_id_is_echoed_or_made(gateway):
    mine = requests.get(gateway.url + "/healthz", headers={"X-Request-ID": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    assert len(requests.get(gateway.url + "/healthz").headers["x-request-id"]) >= 16


def test_token_check(gateway, fake):
    fake.valid_tokens = {"good-token"}
    check = lambda t: requests.post(gateway.url + "/token/check", json={"token": t})  # noqa: E731
    assert check("good-token").json()["live"] is True
    assert check("other-token").json()["live"] is False
    assert check("").status_code == 400
    assert fake.requests[0].path == "/api/v1/auths/"


def test_chat_ttl_zero_deletes_the_chat_after_the_answer(start_gateway, settings, fake):
    gateway = start_gateway(dataclasses.replace(settings, chat_ttl=0))
    requests.post(
        gateway.url + "/v1/chat/completions",
        json={"messages": user()},
        headers={"Authorization": "Bearer " + TOKEN},
    ).raise_for_status()
    chat_id = fake.last_completion().query["chat_id"]
    assert fake.wait_until(lambda: chat_id in fake.deleted_chats, timeout=3)


def test_idle_chats_are_deleted_after_the_ttl_but_live_until_then(start_gateway, settings, fake):
    gateway = start_gateway(dataclasses.replace(settings, chat_ttl=0.6))
    auth = {"Authorization": "Bearer " + TOKEN}
    first = requests.post(
        gateway.url + "/v1/chat/completions", json={"messages": user()}, headers=auth
    )
    chat_id = fake.last_completion().query["chat_id"]
    follow = {
        "messages": user()
        + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "y"}],
        "conversation_id": first.json()["id"],
    }
    assert requests.post(gateway.url + "/v1/chat/completions", json=follow, headers=auth).ok
    assert fake.last_completion().query["chat_id"] == chat_id  # continued, not deleted yet
    assert fake.wait_until(lambda: chat_id in fake.deleted_chats, timeout=3)


def test_chat_ttl_negative_keeps_chats(gateway, fake):
    requests.post(
        gateway.url + "/v1/chat/completions",
        json={"messages": user()},
        headers={"Authorization": "Bearer " + TOKEN},
    ).raise_for_status()
    gateway.state.close()  # even shutdown leaves kept chats alone
    assert fake.deleted_chats == []


def test_shutdown_deletes_chats_still_waiting_for_their_ttl(start_gateway, settings, fake):
    gateway = start_gateway(dataclasses.replace(settings, chat_ttl=600))
    requests.post(
        gateway.url + "/v1/chat/completions",
        json={"messages": user()},
        headers={"Authorization": "Bearer " + TOKEN},
    ).raise_for_status()
    gateway.state.close()
    assert fake.deleted_chats == [fake.last_completion().query["chat_id"]]


def test_settings_from_env_reads_only_qwenfree_variables():
    s = Settings.from_env(
        {
            "QWENFREE_UPSTREAM_URL": "http://x:1/",
            "QWENFREE_CHAT_TTL": "0",
            "QWENFREE_DEFAULT_MODEL": "qwen3-coder-plus",
            "UPSTREAM_URL": "nope",
        }
    )
    assert (s.upstream_url, s.chat_ttl, s.default_model) == ("http://x:1", 0.0, "qwen3-coder-plus")
    assert Settings.from_env({}) == Settings()
    with pytest.raises(ValueError, match="QWENFREE_CHAT_TTL"):
        Settings.from_env({"QWENFREE_CHAT_TTL": "soon"})


@pytest.mark.parametrize(
    "url",
    [
        "http://user:s3cret@auth.example/p",  # would show in errors naming the host
        "https://auth.example/p?sig=SECRET",
        "http://:9/p",  # no host: the error had only the whole URL to name
        "ftp://auth.example",
        "auth.example",
    ],
)
def test_an_upstream_url_with_secrets_or_no_host_is_refused_at_start(url):
    with pytest.raises(ValueError, match="QWENFREE_AUTH_URL") as info:
        Settings.from_env({"QWENFREE_AUTH_URL": url})
    assert "SECRET" not in str(info.value) and "s3cret" not in str(info.value)


def test_image_generation_frames_become_markdown_with_the_query_kept(gateway, fake):
    url = "https://cdn.example/out/t2i/1.png?key=eyJabc.def"
    fake.enqueue(fu.answer("Here it is.", image_url=url))
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"messages": user()},
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert r.json()["choices"][0]["message"]["content"] == f"Here it is.\n\n![image]({url})"


def test_silent_upstream_gets_ping_comments_that_the_sdk_ignores(start_gateway, settings, fake):
    import openai

    gateway = start_gateway(dataclasses.replace(settings, heartbeat_interval=0.1))
    fake.enqueue(fu.stall_after(["Hel"], 0.5, ["lo"]))
    raw = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"messages": user(), "stream": True},
        headers={"Authorization": "Bearer " + TOKEN},
    ).text
    assert ": ping\n\n" in raw and raw.endswith("data: [DONE]\n\n")
    fake.enqueue(fu.stall_after(["Hel"], 0.5, ["lo"]))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0)
    chunks = client.chat.completions.create(model=MODEL, messages=user(), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello"


def test_without_heartbeats_a_disconnect_still_closes_the_upstream(start_gateway, settings, fake):
    gateway = start_gateway(dataclasses.replace(settings, heartbeat_interval=0))
    fake.enqueue(fu.infinite(delay=0.05, max_seconds=5))
    with requests.post(
        gateway.url + "/v1/chat/completions",
        stream=True,
        json={"messages": user(), "stream": True},
        headers={"Authorization": "Bearer " + TOKEN},
    ) as r:
        assert next(r.iter_lines()).startswith(b"data: ")
    assert fake.wait_until(lambda: fake.disconnects == 1 and fake.active_streams == 0, timeout=3)


def test_claude_codes_reachability_probe_answers(gateway, fake):
    assert requests.head(gateway.url + "/api/hello").status_code == 200
    assert fake.requests == []
