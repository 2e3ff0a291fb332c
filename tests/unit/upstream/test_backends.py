"""The upstream layer's edges, over real HTTP: ids from callers never shape an upstream URL
(issue 14 item 3), and media as chat.qwen.ai serves it in September 2026 (§16.5): v2 video
status with the v1 fallback, strict task states, the video's size in the message meta, image
edits in ``image_edit_tool`` frames, and drawings read back from the chat."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import uuid

import openai
import pytest
import requests

from qwenfree.upstream.accounts import fingerprint
from tests import fake_upstream as fu
from tests.conftest import TOKEN, user
from tests.support.models import DRAW_MODEL, MODEL

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FP = fingerprint(TOKEN)
AUTH = {"Authorization": "Bearer " + TOKEN}


@pytest.fixture
def gateway(start_gateway, settings):
    # chat_ttl 0: every chat is deleted as soon as its answer ends, so deletes are observable.
    return start_gateway(
        dataclasses.replace(
            settings, chat_ttl=0, video_poll_interval=0.01, video_timeout=3, heartbeat_interval=0
        )
    )


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0, timeout=15)


# ------------------------------------------------------------------------------ caller ids

EVIL = [
    f"?.{uuid.uuid4()}.{FP}",
    f"/.x.{FP}",
    f"&chat_id=1.y.{FP}",
    f"chatcmpl-{uuid.uuid4()}?x=1.{uuid.uuid4()}.{FP}",
    f"{uuid.uuid4()}.../..%2F.{FP}",
    "?",
    "/",
    "&",
]


def _ask(gateway, dialect: str, conversation_id: str) -> requests.Response:
    if dialect == "openai":
        url = gateway.url + "/v1/chat/completions"
        body = {"model": MODEL, "messages": user(), "conversation_id": conversation_id}
    elif dialect == "anthropic":
        url = gateway.url + "/v1/messages"
        body = {"model": MODEL, "max_tokens": 64, "messages": user()}
        body["conversation_id"] = conversation_id
    else:
        url = gateway.url + f"/v1beta/models/{MODEL}:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        body["conversation_id"] = conversation_id
    return requests.post(url, json=body, headers=AUTH, timeout=15)


@pytest.mark.parametrize("dialect", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("conversation_id", EVIL)
def test_ids_from_callers_never_shape_an_upstream_url(gateway, fake, dialect, conversation_id):
    r = _ask(gateway, dialect, conversation_id)
    assert r.status_code == 200, r.text
    assert fake.wait_until(lambda: len(fake.deleted_chats) == 1)
    created = set(fake.chats)
    for sent in fake.completions():
        assert sent.query["chat_id"] in created and sent.json["parent_id"] is None
    deletes = [req.path for req in fake.requests if req.method == "DELETE"]
    assert deletes == [f"/api/v2/chats/{next(iter(created))}"]
    assert not any(req.path.rstrip("/") == "/api/v2/chats" for req in fake.requests)


def test_a_handle_of_our_shape_still_continues(start_gateway, settings, fake):
    gateway = start_gateway(settings)  # chats kept: this one is continued
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0)
    first = client.chat.completions.create(model=MODEL, messages=user("one"))
    history = user("one") + [{"role": "assistant", "content": "1"}, *user("two")]
    client.chat.completions.create(
        model=MODEL, messages=history, extra_body={"conversation_id": first.id}
    )
    one, two = fake.completions()
    assert (
        two.query["chat_id"] == one.query["chat_id"] and two.json["messages"][0]["content"] == "two"
    )


@pytest.mark.parametrize(
    "video_id", ["video_%3F.x." + FP, "video_a.%26b%3D1." + FP, "video_a.b", "video_..", "nope"]
)
def test_malformed_video_ids_are_404_before_any_upstream_call(gateway, fake, video_id):
    r = requests.get(gateway.url + "/v1/videos/" + video_id, headers=AUTH, timeout=15)
    assert r.status_code == 404, r.text
    assert not [req for req in fake.requests if "status" in req.path]


# ------------------------------------------------------------------------------ video


def _video_task(fake, task_id: str) -> None:
    """The next t2v completion answers with this task id (as the site does)."""
    reply = {"role": "assistant", "chat_type": "t2v", "extra": {"wanx": {"task_id": task_id}}}
    fake.enqueue(fu._json(200, {"success": True, "data": {"messages": [reply]}}))


def _status(status: str, content: str = "") -> fu.Script:
    data = {"task_status": status, "content": content, "task_id": "t"}
    return fu._json(200, {"success": True, "request_id": "r", "data": data})


def test_video_status_is_read_from_v2_first(client, fake):
    task = str(uuid.uuid4())
    _video_task(fake, task)
    url = "https://cdn.example/v.mp4?key=1"
    fake.enqueue(_status("running"), _status("success", url), path=f"/api/v2/task/status/{task}")
    done = client.chat.completions.create(model=f"{DRAW_MODEL}-video", messages=user("sunrise"))
    assert done.choices[0].message.content == f"[video]({url})"
    polls = [r.path for r in fake.requests if "status" in r.path]
    assert polls == [f"/api/v2/task/status/{task}"] * 2


def test_a_video_names_its_size_and_type_in_every_place(gateway, fake):
    r = requests.post(
        gateway.url + "/v1/videos",
        json={"prompt": "waves", "size": "1280x720"},
        headers=AUTH,
        timeout=15,
    )
    assert r.status_code == 200, r.text
    body = fake.last_completion().json
    msg = body["messages"][0]
    assert body["size"] == msg["size"] == msg["extra"]["meta"]["size"] == "16:9"
    assert msg["chat_type"] == msg["sub_chat_type"] == msg["extra"]["meta"]["subChatType"] == "t2v"


def test_video_status_falls_back_to_v1_on_not_found(client, fake):
    task = str(uuid.uuid4())
    _video_task(fake, task)
    url = "https://cdn.example/v1.mp4?key=1"
    fake.enqueue(fu.business_error("Not_Found", "no such path"), path=f"/api/v2/task/status/{task}")
    fake.enqueue(_status("success", url), path=f"/api/v1/tasks/status/{task}")
    done = client.chat.completions.create(model=f"{DRAW_MODEL}-video", messages=user("rain"))
    assert done.choices[0].message.content == f"[video]({url})"


@pytest.mark.parametrize("status", ["cancelled", "moderated", "", "SUCCEEDED_RENAMED"])
def test_a_task_status_other_than_running_or_success_fails_at_once(client, fake, status):
    task = str(uuid.uuid4())
    _video_task(fake, task)
    fake.enqueue(_status(status), path=f"/api/v2/task/status/{task}")
    with pytest.raises(openai.InternalServerError, match="could not make the video"):
        client.chat.completions.create(model=f"{DRAW_MODEL}-video", messages=user("a storm"))
    assert len([r for r in fake.requests if "status" in r.path]) == 1


# ------------------------------------------------------------------------------ pictures


def _edit_frames(result: object) -> fu.Script:
    extra = {"tool_result": result}
    return fu.Script(
        [
            fu._created(),
            fu.Frame(fu._delta("image_edit_tool", "", None, extra=extra)),
            fu.Frame(fu._delta("image_edit_tool", "", None, status="finished", extra=extra)),
            fu._finished(),
        ]
    )


@pytest.mark.parametrize(
    "result",
    [
        ["https://cdn.example/e1.png?key=1", {"url": "https://cdn.example/e2.png?key=2"}],
        [{"url": "https://cdn.example/e1.png?key=1"}, "https://cdn.example/e2.png?key=2"],
    ],
)
def test_image_edits_read_the_image_edit_tool_phase(client, fake, result):
    fake.enqueue(_edit_frames(result))
    done = client.images.edit(
        model="gpt-image-1", image=("cat.png", io.BytesIO(fu.PNG), "image/png"), prompt="a hat", n=2
    )
    assert [d.url for d in done.data] == [
        "https://cdn.example/e1.png?key=1",
        "https://cdn.example/e2.png?key=2",
    ]
    assert len(fake.completions()) == 1  # both pictures came in one answer, each once


def _drawing_in(fake, chat_id: str, content: object, extra: object = None) -> None:
    """The next chat created is ``chat_id``; reading it back finds this assistant message."""
    fake.chats[chat_id] = fu.Chat(id=chat_id, chat_type="t2i", models=[MODEL])
    fake.enqueue(
        fu._json(200, {"success": True, "data": {"id": chat_id}}), path="/api/v2/chats/new"
    )
    message = {"role": "assistant", "content": content, "extra": extra or {}}
    chat = {"history": {"messages": {"m": message}}, "messages": [{"role": "user"}, message]}
    read = {"success": True, "data": {"id": chat_id, "chat": chat}}
    fake.enqueue(fu._json(200, read), path=f"/api/v2/chats/{chat_id}")
    fake.enqueue(fu.Script([fu._created(), fu._finished()]))  # the stream holds no picture


@pytest.mark.parametrize(
    ("content", "extra"),
    [
        ("![image](https://cdn.example/back.png?key=9)", None),
        ("", {"output_image": [{"url": "https://cdn.example/back.png?key=9"}]}),
    ],
)
def test_a_drawing_without_a_picture_is_read_back_from_the_chat(client, fake, content, extra):
    chat_id = str(uuid.uuid4())
    _drawing_in(fake, chat_id, content, extra)
    done = client.images.generate(prompt="a fox")
    assert [d.url for d in done.data] == ["https://cdn.example/back.png?key=9"]
    reads = [r for r in fake.requests if r.method == "GET" and r.path.endswith(chat_id)]
    assert len(reads) == 1


def test_a_drawing_that_is_nowhere_still_fails(client, fake):
    _drawing_in(fake, str(uuid.uuid4()), "I could not draw it.")
    with pytest.raises(openai.InternalServerError, match="empty answer"):
        client.images.generate(prompt="a fox")


def test_site_names_in_errors_come_from_the_site(start_gateway, settings, fake):
    dead = "http://127.0.0.1:9"  # nothing listens: cannot reach
    gateway = start_gateway(
        dataclasses.replace(settings, tongyi_tickets=True, tongyi_url=dead, connect_timeout=1)
    )
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "auto", "messages": user()},
        headers={"Authorization": "Bearer tongyi-sso-ticket-0001"},
        timeout=15,
    )
    assert r.status_code >= 500 and "cannot reach Tongyi" in json.dumps(r.json())


def test_tongyi_calls_are_timed_and_its_client_closed_on_shutdown(start_gateway, settings):
    from prometheus_client.parser import text_string_to_metric_families

    from tests import fake_tongyi as ft

    with ft.FakeTongyi() as tongyi:
        on = dataclasses.replace(settings, tongyi_tickets=True, tongyi_url=tongyi.url, chat_ttl=0)
        gateway = start_gateway(on)
        r = requests.post(
            gateway.url + "/v1/chat/completions",
            json={"model": "auto", "messages": user()},
            headers={"Authorization": "Bearer tongyi-sso-ticket-0001"},
            timeout=15,
        )
        assert r.status_code == 200, r.text
        text = requests.get(gateway.url + "/metrics", timeout=5).text
        opened = [
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "qwenfree_upstream_seconds_count"
            and s.labels.get("call") == "completion_open"
        ]
        assert opened == [1.0]
        backend = gateway.state.service.backends.for_credential("tongyi-sso-ticket-0001")
        assert backend.name == "Tongyi"
        pools = backend.client.session.get_adapter(tongyi.url).poolmanager.pools
        assert len(pools) == 1  # the connection to Tongyi, kept alive
        gateway.state.close()
        assert len(pools) == 0  # closed with the app


# ------------------------------------------------------------------------------ the 2026-09 site


@pytest.fixture
def modern(fake):
    fake.mode = fu.SEP_2026
    return fake


def test_on_the_2026_09_site_a_video_polls_v2_only(modern, client):
    modern.task_polls = 1
    r = requests.post(client.base_url.join("videos"), json={"prompt": "waves"}, headers=AUTH)
    assert r.status_code == 200, r.text
    sent = modern.last_completion().json
    assert sent["size"] == sent["messages"][0]["extra"]["meta"]["size"] == "16:9"
    video = r.json()["id"]
    states = [
        requests.get(client.base_url.join(f"videos/{video}"), headers=AUTH).json()["status"]
        for _ in range(2)
    ]
    assert states == ["in_progress", "completed"]
    polls = {req.path.rsplit("/", 1)[0] for req in modern.requests if "status" in req.path}
    assert polls == {"/api/v2/task/status"}


def test_on_the_2026_09_site_edits_and_drawings_find_their_pictures(modern, client):
    edited = client.images.edit(
        image=("cat.png", io.BytesIO(fu.PNG), "image/png"), prompt="add a hat"
    )
    assert "/output/image_edit/" in edited.data[0].url
    modern.enqueue(fu.image_in_chat_only(url="https://cdn.example/kept.png?key=7"))
    drawn = client.images.generate(prompt="a fox")
    assert [d.url for d in drawn.data] == ["https://cdn.example/kept.png?key=7"]
