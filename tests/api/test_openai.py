"""The OpenAI dialect through the official SDK, against the gateway and the fake upstream."""

from __future__ import annotations

import json

import openai
import pytest
import requests

from tests import fake_upstream as fu
from tests.conftest import TOKEN, user
from tests.support.fake_site import browser
from tests.support.models import (
    MODEL,
    MUST_THINK_MODEL,
    NO_THINKING_MODEL,
    default_model,
    model_entry,
)


def stream_text(client, **kwargs):
    chunks = list(client.chat.completions.create(stream=True, **kwargs))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def test_non_stream_answer_with_real_usage(client, fake):
    fake.enqueue(fu.answer("Paris is the capital.", input_tokens=1200))
    done = client.chat.completions.create(model=MODEL, messages=user("capital of France?"))
    assert done.choices[0].message.content == "Paris is the capital."
    assert done.choices[0].finish_reason == "stop"
    assert done.model == MODEL
    assert done.id.startswith("chatcmpl-")
    assert done.usage.prompt_tokens == 1200
    assert done.usage.completion_tokens == 3  # one per answer piece in the fake
    assert done.usage.total_tokens == 1203


def test_stream_text_equals_the_upstream_answer_exactly(client, fake):
    fake.enqueue(
        fu.answer(
            "One, two; three: four.\nFive 🌍", pieces=["One, two", "; three: ", "four.\nFive 🌍"]
        )
    )
    chunks, text = stream_text(
        client, model=MODEL, messages=user(), stream_options={"include_usage": True}
    )
    assert text == "One, two; three: four.\nFive 🌍"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3


def test_stream_ends_with_done_and_sse_headers(gateway, fake):
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"model": MODEL, "messages": user(), "stream": True},
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    assert r.headers["X-Accel-Buffering"] == "no" and r.headers["Cache-Control"] == "no-cache"
    assert r.text.endswith("data: [DONE]\n\n")


def test_thinking_suffix_streams_reasoning_content(client, fake):
    fake.enqueue(fu.answer("Hi!", thinking=["Consider the greeting.", "Reply kindly."]))
    chunks, text = stream_text(client, model=f"{MODEL}-thinking", messages=user())
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks
        if c.choices
    )
    assert text == "Hi!"
    assert reasoning == "Consider the greeting.\n\nReply kindly."
    sent = fake.last_completion().json
    assert sent["messages"][0]["feature_config"]["thinking_enabled"] is True
    assert sent["model"] == MODEL


def test_non_stream_reasoning_and_knobs(client, fake):
    fake.enqueue(fu.answer("Yes.", thinking="Think hard.", thinking_style="think"))
    done = client.chat.completions.create(
        model=MODEL,
        messages=user(),
        extra_body={"enable_thinking": True, "thinking_budget": 500},
    )
    assert done.choices[0].message.model_extra["reasoning_content"] == "Think hard."
    feature = fake.last_completion().json["messages"][0]["feature_config"]
    assert feature["thinking_enabled"] is True and feature["thinking_budget"] == 500


@pytest.mark.parametrize(("effort", "thinks"), [("low", False), ("high", True)])
def test_reasoning_effort_maps_to_thinking(client, fake, effort, thinks):
    client.chat.completions.create(model=MODEL, messages=user(), reasoning_effort=effort)
    assert (
        fake.last_completion().json["messages"][0]["feature_config"]["thinking_enabled"] is thinks
    )


def test_a_model_that_must_think_gets_thinking_on(client, fake):
    client.chat.completions.create(model=MUST_THINK_MODEL, messages=user())
    assert fake.last_completion().json["messages"][0]["feature_config"]["thinking_enabled"] is True


def test_search_suffix_sets_chat_type_and_returns_citations(client, fake):
    source = {"url": "https://example.org/a", "title": "A", "snippet": "s"}
    fake.enqueue(fu.answer("Found it.", search=[source]))
    done = client.chat.completions.create(model=f"{MODEL}-search", messages=user("news?"))
    assert fake.last_completion().json["messages"][0]["chat_type"] == "search"
    annotations = done.choices[0].message.annotations
    assert annotations[0].url_citation.url == "https://example.org/a"
    assert done.choices[0].message.content == "Found it."


def test_display_name_resolves_case_insensitively(client, fake):
    name = model_entry(NO_THINKING_MODEL)["name"].upper()
    done = client.chat.completions.create(model=name, messages=user())
    assert fake.last_completion().json["model"] == NO_THINKING_MODEL
    assert done.model == name


def test_unknown_model_is_a_404_listing_valid_ids(client, fake):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-9", messages=user())
    body = info.value.body
    assert body["code"] == "model_not_found"
    assert f"{MODEL}-thinking" in body["message"]
    assert fake.completions() == []


def test_thinking_variant_of_a_model_that_cannot_think_is_unknown(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=f"{NO_THINKING_MODEL}-thinking", messages=user())


def test_default_model_when_omitted(gateway, fake):
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"messages": user()},
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert r.status_code == 200, r.text
    assert fake.last_completion().json["model"] == default_model(fake)


def test_models_list_has_variants_by_capability(client):
    ids = {m.id for m in client.models.list()}
    assert {
        MODEL,
        f"{MODEL}-thinking",
        f"{MODEL}-search",
        f"{MODEL}-thinking-search",
    } <= ids
    assert NO_THINKING_MODEL in ids and f"{NO_THINKING_MODEL}-thinking" not in ids
    assert f"{MUST_THINK_MODEL}-thinking" not in ids  # it always thinks
    model = client.models.retrieve(f"{MODEL}-thinking")
    assert model.model_extra["upstream_id"] == MODEL
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_models_fall_back_to_a_static_list_when_the_upstream_is_down(start_gateway, settings):
    import dataclasses

    gateway = start_gateway(dataclasses.replace(settings, upstream_url="http://127.0.0.1:9"))
    r = requests.get(gateway.url + "/v1/models")
    # qwenfree.catalog.FALLBACK, the client's own list: not the site's
    assert r.status_code == 200 and "qwen3-max" in {m["id"] for m in r.json()["data"]}


def test_content_parts_and_history_are_flattened(client, fake):
    client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [{"type": "text", "text": "a: b; c"}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "next\nline"},
        ],
    )
    sent = fake.last_completion().json
    assert len(sent["messages"]) == 1
    content = sent["messages"][0]["content"]
    assert "==== system ====\nBe terse." in content
    assert "==== user ====\na: b; c" in content
    assert content.endswith("==== user ====\nnext\nline")


def test_what_we_send_looks_like_the_web_client(client, fake):
    client.chat.completions.create(model=MODEL, messages=user())
    new_chat = next(r for r in fake.requests if r.path == "/api/v2/chats/new")
    completion = fake.last_completion()
    assert completion.query["chat_id"] == completion.json["chat_id"] == new_chat_id(fake)
    for rec in (new_chat, completion):
        assert rec.headers["authorization"] == "Bearer " + TOKEN
        assert "token=" + TOKEN in rec.headers["cookie"]
        assert rec.headers["source"] == "web" and rec.headers["version"]
        assert rec.headers["x-request-id"] and rec.headers["timezone"].isascii()
        assert rec.headers["user-agent"].startswith("Mozilla/5.0")
    body = completion.json
    assert body["stream"] is True and body["incremental_output"] is True
    assert body["messages"][0]["feature_config"]["output_schema"] == "phase"
    assert body["parent_id"] is None


def new_chat_id(fake):
    return next(iter(fake.chats))


def test_conversation_id_continues_the_same_upstream_chat(client, fake):
    first = client.chat.completions.create(model=MODEL, messages=user("My name is Ana."))
    history = user("My name is Ana.") + [
        {"role": "assistant", "content": "Hello Ana"},
        {"role": "user", "content": "What is my name?"},
    ]
    client.chat.completions.create(
        model=MODEL, messages=history, extra_body={"conversation_id": first.id}
    )
    one, two = fake.completions()
    assert two.query["chat_id"] == one.query["chat_id"]
    assert two.json["parent_id"] == fake.chats[one.query["chat_id"]].response_ids()[0]
    assert two.json["messages"][0]["content"] == "What is my name?"
    assert sum(r.path == "/api/v2/chats/new" for r in fake.requests) == 1


def test_continuing_a_deleted_chat_replays_the_history_in_a_new_chat(client, fake):
    first = client.chat.completions.create(model=MODEL, messages=user("one"))
    chat_id = fake.last_completion().query["chat_id"]
    # deleted on the site, as a browser would (the 2026-09 gate punishes a bare request)
    gone = requests.delete(
        f"{fake.url}/api/v2/chats/{chat_id}", headers=browser(fake, f"/c/{chat_id}", TOKEN)
    )
    assert gone.json()["success"] is True
    history = user("one") + [
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"},
    ]
    done = client.chat.completions.create(
        model=MODEL, messages=history, extra_body={"conversation_id": first.id}
    )
    assert done.choices[0].message.content == fu.DEFAULT_TEXT
    last = fake.last_completion()
    assert last.query["chat_id"] != chat_id and last.json["parent_id"] is None
    assert "==== user ====\none" in last.json["messages"][0]["content"]


def test_unknown_fields_are_ignored_and_bad_types_are_400(gateway):
    url, auth = gateway.url + "/v1/chat/completions", {"Authorization": "Bearer " + TOKEN}
    ok = requests.post(
        url, json={"model": MODEL, "messages": user(), "frobnicate": 1}, headers=auth
    )
    assert ok.status_code == 200
    bad = requests.post(url, json={"model": MODEL, "messages": "hi"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages"
    role = requests.post(url, json={"messages": [{"role": "wizard", "content": "x"}]}, headers=auth)
    assert role.status_code == 400 and "role" in role.json()["error"]["message"]
    garbage = requests.post(url, data=b"{nope", headers=auth)
    assert garbage.status_code == 400 and garbage.json()["error"]["type"] == "invalid_request_error"


def test_missing_token_is_401_in_openai_shape(gateway):
    r = requests.post(gateway.url + "/v1/chat/completions", json={"messages": user()})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_api_key"
    assert r.headers["x-should-retry"] == "false"


def test_routing_errors_use_the_openai_envelope(gateway):
    missing = requests.get(gateway.url + "/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    wrong = requests.get(gateway.url + "/v1/chat/completions")
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_oversized_body_is_413_in_openai_shape(start_gateway, settings):
    import dataclasses

    gateway = start_gateway(dataclasses.replace(settings, max_body_mb=1))
    big = json.dumps({"messages": user("x" * (2 << 20))})
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        data=big,
        headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_client_model_names_map_through_aliases(client, fake):
    done = client.chat.completions.create(model="claude-sonnet-4-5", messages=user())
    assert fake.last_completion().json["model"] == default_model(fake)
    assert done.model == "claude-sonnet-4-5"  # the caller's name is echoed


def test_aliases_are_configurable_and_checked(start_gateway, settings, fake):
    import dataclasses

    aliased = dataclasses.replace(
        settings, model_aliases=f"gpt-4o*={NO_THINKING_MODEL}, claude-*=default"
    )
    gateway = start_gateway(aliased)
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": user()},
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert r.status_code == 200 and fake.last_completion().json["model"] == NO_THINKING_MODEL
    with pytest.raises(ValueError, match="glob=model"):
        start_gateway(dataclasses.replace(settings, model_aliases="nonsense"))
