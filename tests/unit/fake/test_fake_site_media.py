"""The fake chat.qwen.ai's 2026-09 models, media and native tools, driven with plain
``requests`` (§16.5, §16.6)."""

from __future__ import annotations

import requests

from tests import fake_upstream as fu
from tests.support.fake_site import (
    MODEL,
    browser,
    complete,
    completion_body,
    failure,
    frames,
    new_chat,
    upload_image,
    video_body,
)

# --------------------------------------------------------------------------- models, media, tools


def test_models_no_longer_list_qwen3_max(site: fu.FakeUpstream, fake: fu.FakeUpstream) -> None:
    models = requests.get(site.url + "/api/models", headers=browser(site)).json()["data"]
    ids = [m["id"] for m in models]
    assert "qwen3-max" not in ids and ids[0] == MODEL
    assert all(m["info"]["meta"]["max_context_length"] for m in models)
    site.mode = fu.LEGACY
    assert site.models[0]["id"] == "qwen3-max"


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
    assert answers[-1]["content"] == item["content"]


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
