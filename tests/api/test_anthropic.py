"""The Anthropic Messages dialect through the official SDK (and raw HTTP where the wire matters),
against the gateway and the fake upstream."""

from __future__ import annotations

import dataclasses
import json
import re

import anthropic
import pytest
import requests

from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support import sse
from tests.support.models import NO_THINKING_MODEL, default_model
from tests.support.recorded import captured
from tests.support.tool_calls import call

MODEL = "claude-opus-4-8"
WRITE_TOOL = {
    "name": "Write",
    "description": "Write a file to the local filesystem.",
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"file_path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["file_path", "content"],
        "additionalProperties": False,
    },
    "cache_control": {"type": "ephemeral"},
}
TOO_LONG = re.compile(r"^prompt is too long: (\d+) tokens > (\d+) maximum$")


@pytest.fixture
def claude(gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=TOKEN, max_retries=0, timeout=15)


def ask(text: str = "hi") -> list[dict]:
    return [{"role": "user", "content": text}]


def post(gateway, body: dict, **headers: str) -> requests.Response:
    base = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
    return requests.post(gateway.url + "/v1/messages?beta=true", json=body, headers=base | headers)


def test_non_stream_message_with_real_usage(claude, fake):
    fake.enqueue(fu.answer("Paris.", input_tokens=1200))
    msg = claude.messages.create(model=MODEL, max_tokens=100, messages=ask("capital?"))
    assert msg.id.startswith("msg_") and msg.model == MODEL and msg.role == "assistant"
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text == "Paris."
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (1200, 3)
    assert fake.last_completion().json["model"] == default_model(fake)  # claude-*: the default


def test_stream_event_order_on_the_wire(gateway, fake):
    fake.enqueue(fu.answer("Hi there", thinking=["Greet.", "Kindly."], input_tokens=900))
    r = post(gateway, {"model": MODEL, "max_tokens": 50, "stream": True, "messages": ask()})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    assert r.headers["request-id"]
    events = sse.events(r)
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start["id"].startswith("msg_") and start["model"] == MODEL and start["content"] == []
    assert start["stop_reason"] is None and start["usage"]["input_tokens"] == 900
    blocks = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
    assert blocks == ["thinking", "text"]
    deltas = [d["delta"]["type"] for n, d in events if n == "content_block_delta"]
    sign_at = deltas.index("signature_delta")
    assert set(deltas[:sign_at]) == {"thinking_delta"} and set(deltas[sign_at + 1 :]) == {
        "text_delta"
    }
    indices = [d["index"] for n, d in events if n.startswith("content_block")]
    assert indices == sorted(indices) and set(indices) == {0, 1}
    end = events[-2][1]
    assert end["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert end["usage"]["output_tokens"] == 5 and end["usage"]["input_tokens"] == 900


def test_sdk_stream_with_thinking(claude, fake):
    fake.enqueue(fu.answer("Yes.", thinking="Consider it. Then answer."))
    with claude.messages.stream(
        model=MODEL,
        max_tokens=100,
        messages=ask(),
        thinking={"type": "enabled", "budget_tokens": 2000},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Yes."
    thinking, answer = final.content
    assert thinking.type == "thinking" and thinking.thinking == "Consider it.\n\nThen answer."
    assert len(thinking.signature) > 20 and answer.text == "Yes."
    feature = fake.last_completion().json["messages"][0]["feature_config"]
    assert feature["thinking_enabled"] is True and feature["thinking_budget"] == 2000


def test_thinking_display_omitted_keeps_only_the_signature(claude, fake):
    fake.enqueue(fu.answer("Ok.", thinking="Secret reasoning."), fu.answer("Ok.", thinking="x."))
    params = {"type": "adaptive", "display": "omitted"}
    with claude.messages.stream(
        model=MODEL, max_tokens=100, messages=ask(), thinking=params
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].thinking == ""
    assert final.content[0].signature
    msg = claude.messages.create(model=MODEL, max_tokens=100, messages=ask(), thinking=params)
    assert msg.content[0].thinking == "" and msg.content[0].signature


@pytest.mark.parametrize(
    ("thinking", "effort", "model", "enabled"),
    [
        ({"type": "adaptive"}, "high", MODEL, True),
        ({"type": "adaptive"}, "low", MODEL, False),
        ({"type": "disabled"}, None, MODEL, False),
        ({"type": "enabled", "budget_tokens": 1024}, None, NO_THINKING_MODEL, False),
    ],
)
def test_thinking_modes(gateway, fake, thinking, effort, model, enabled):
    body = {"model": model, "max_tokens": 10, "messages": ask(), "thinking": thinking}
    if effort:
        body["output_config"] = {"effort": effort}
    assert post(gateway, body).status_code == 200  # a model that cannot think just doesn't
    feature = fake.last_completion().json["messages"][0]["feature_config"]
    assert feature["thinking_enabled"] is enabled


def test_tool_use_round_trip_streamed(claude, fake):
    target = {"file_path": "/tmp/out.txt", "content": 'say "hi"\n'}
    text = "I'll write it.\n" + call("Write", target) + "\n"
    fake.enqueue(fu.answer(text, pieces=[text[i : i + 5] for i in range(0, len(text), 5)]))
    fake.enqueue(fu.answer("Done: the file is written."))
    partial = []
    with claude.messages.stream(
        model=MODEL, max_tokens=100, messages=ask("write it"), tools=[WRITE_TOOL]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                partial.append(event.delta.partial_json)
        final = stream.get_final_message()
    assert json.loads("".join(partial)) == target
    assert final.stop_reason == "tool_use"
    text_block, tool_use = final.content
    assert text_block.text == "I'll write it."
    assert tool_use.type == "tool_use" and tool_use.id.startswith("toolu_")
    assert tool_use.name == "Write" and tool_use.input == target
    sent = fake.last_completion().json["messages"][0]["content"]
    assert '<tool name="Write">' in sent and "$schema" not in sent

    history = ask("write it") + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": tool_use.id, "content": "Wrote 9 bytes"}
            ],
        },
    ]
    second = claude.messages.create(
        model=MODEL, max_tokens=100, messages=history, tools=[WRITE_TOOL]
    )
    assert (
        second.content[0].text == "Done: the file is written." and second.stop_reason == "end_turn"
    )
    sent = fake.last_completion().json["messages"][0]["content"]
    assert f'<tool_use name="Write" id="{tool_use.id}">' in sent
    assert f'<tool_result id="{tool_use.id}" name="Write">\nWrote 9 bytes\n</tool_result>' in sent


def test_tool_use_non_stream_with_several_calls(claude, fake):
    a, b = {"file_path": "/a", "content": "1"}, {"file_path": "/b", "content": "2"}
    fake.enqueue(fu.answer(call("Write", a) + "\n" + call("Write", b)))
    msg = claude.messages.create(model=MODEL, max_tokens=100, messages=ask(), tools=[WRITE_TOOL])
    assert [(c.type, c.input) for c in msg.content] == [("tool_use", a), ("tool_use", b)]
    assert msg.stop_reason == "tool_use" and msg.content[0].id != msg.content[1].id


def test_tool_choice_any_asks_again_and_disable_parallel(claude, fake):
    fake.enqueue(
        fu.answer("I could write a file."),
        fu.answer(call("Write", {"file_path": "/a", "content": ""})),
    )
    msg = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=ask(),
        tools=[WRITE_TOOL],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    assert [c.type for c in msg.content] == ["tool_use"] and len(fake.completions()) == 2
    first = fake.completions()[0].json["messages"][0]["content"]
    assert "must call at least one tool" in first and "at most one tool" in first


def test_a_mid_conversation_tool_error_is_labelled(claude, fake):
    history = [
        {"role": "user", "content": "write"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_9", "name": "Write", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_9",
                    "is_error": True,
                    "content": [{"type": "text", "text": "missing file_path"}],
                },
                {"type": "text", "text": "try again"},
            ],
        },
    ]
    claude.messages.create(model=MODEL, max_tokens=10, messages=history, tools=[WRITE_TOOL])
    sent = fake.last_completion().json["messages"][0]["content"]
    assert (
        '<tool_result id="toolu_9" name="Write" error="true">\nmissing file_path\n</tool_result>\ntry again'
        in sent
    )


def test_stop_sequences_cut_the_answer(claude, fake):
    fake.enqueue(fu.answer("one two STOP three", pieces=["one two S", "TO", "P three"]))
    msg = claude.messages.create(
        model=MODEL, max_tokens=10, messages=ask(), stop_sequences=["STOP"]
    )
    assert msg.content[0].text == "one two " and msg.stop_reason == "stop_sequence"
    assert msg.stop_sequence == "STOP"


def test_structured_output_format_returns_clean_json(claude, fake):
    fake.enqueue(fu.answer('```json\n{"title": "Fix the login bug"}\n```'))
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    msg = claude.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=ask("Name this session"),
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert json.loads(msg.content[0].text) == {"title": "Fix the login bug"}


def test_count_tokens_counts_system_tools_and_messages(claude):
    bare = claude.messages.count_tokens(model=MODEL, messages=ask("hello"))
    full = claude.messages.count_tokens(
        model=MODEL, messages=ask("hello"), system="Be terse.", tools=[WRITE_TOOL]
    )
    assert 0 < bare.input_tokens < full.input_tokens
    again = claude.messages.count_tokens(
        model=MODEL, messages=ask("hello"), system="Be terse." * 100, tools=[WRITE_TOOL]
    )
    assert again.input_tokens > full.input_tokens + 150


def test_count_tokens_agrees_with_the_models_context_length(gateway, fake):
    fake.models[0]["info"]["meta"]["max_context_length"] = limit = 1000  # the default model
    c = anthropic.Anthropic(base_url=gateway.url, api_key=TOKEN, max_retries=0)
    for size in (3000, 3900, 4100, 9000):
        messages = ask("x" * size)
        counted = c.messages.count_tokens(model=MODEL, messages=messages).input_tokens
        if counted > limit:
            with pytest.raises(anthropic.BadRequestError) as info:
                c.messages.create(model=MODEL, max_tokens=10, messages=messages)
            match = TOO_LONG.match(info.value.body["error"]["message"])
            assert match and (int(match[1]), int(match[2])) == (counted, limit)
            assert info.value.body["error"]["type"] == "invalid_request_error"
        else:
            assert c.messages.create(model=MODEL, max_tokens=10, messages=messages).content
    assert len(fake.completions()) == 2  # 3000 and 3900 fit, 4100 and 9000 do not


BEFORE_FIRST_BYTE = [
    pytest.param(
        lambda: fu.rate_limited(2), anthropic.RateLimitError, 429, "rate_limit_error", id="quota"
    ),
    pytest.param(
        lambda: fu.http_error(401),
        anthropic.AuthenticationError,  # pass-through: the caller's own credential was refused
        401,
        "authentication_error",
        id="token-rejected",
    ),
    pytest.param(lambda: fu.waf_html(), anthropic.InternalServerError, 502, "api_error", id="waf"),
    pytest.param(
        lambda: fu.business_error("Bad_Request", "Invalid input"),
        anthropic.BadRequestError,
        400,
        "invalid_request_error",
        id="rejected",
    ),
    pytest.param(
        lambda: fu.in_stream_error("data_inspection_failed"),
        anthropic.BadRequestError,
        400,
        "invalid_request_error",
        id="moderation",
    ),
    pytest.param(
        lambda: fu.empty_stream(), anthropic.InternalServerError, 502, "api_error", id="empty"
    ),
    pytest.param(
        lambda: fu.drop_after([]), anthropic.InternalServerError, 502, "api_error", id="drop"
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize(("script", "exc", "status", "kind"), BEFORE_FIRST_BYTE)
def test_upstream_failures_raise_the_right_sdk_error(
    claude, fake, script, exc, status, kind, stream
):
    fake.enqueue(script())
    with pytest.raises(exc) as info:
        if stream:
            with claude.messages.stream(model=MODEL, max_tokens=10, messages=ask()) as s:
                s.get_final_message()
        else:
            claude.messages.create(model=MODEL, max_tokens=10, messages=ask())
    err = info.value
    assert err.status_code == status and err.body["type"] == "error"
    assert err.body["error"]["type"] == kind and err.body["error"]["message"]
    assert err.body["request_id"] == err.request_id == err.response.headers["request-id"]
    if status == 429:
        assert int(err.response.headers["retry-after"]) == 2 * 3600


def test_every_token_cooling_is_529_overloaded_with_retry_after(claude, fake):
    fake.enqueue(fu.rate_limited(1))
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model=MODEL, max_tokens=10, messages=ask())
    with pytest.raises(anthropic.OverloadedError) as info:
        claude.messages.create(model=MODEL, max_tokens=10, messages=ask())
    assert info.value.body["error"]["type"] == "overloaded_error"
    assert 0 < int(info.value.response.headers["retry-after"]) <= 3600
    assert len(fake.completions()) == 1


def test_upstream_timeout_is_504(start_gateway, settings, fake):
    gateway = start_gateway(dataclasses.replace(settings, read_timeout=0.3))
    fake.enqueue(fu.slow_first_byte(2.0))
    c = anthropic.Anthropic(base_url=gateway.url, api_key=TOKEN, max_retries=0)
    with pytest.raises(anthropic.GatewayTimeoutError) as info:
        c.messages.create(model=MODEL, max_tokens=10, messages=ask())
    assert info.value.body["error"]["type"] == "timeout_error"


def test_mid_stream_failure_is_an_error_event(gateway, claude, fake):
    fake.enqueue(fu.in_stream_error("internal_error", "boom", after=["Hel", "lo"]))
    r = post(gateway, {"model": MODEL, "max_tokens": 10, "stream": True, "messages": ask()})
    events = sse.events(r)
    assert events[-1][0] == "error" and events[-1][1]["error"]["type"] == "api_error"
    assert "message_stop" not in [n for n, _ in events]
    fake.enqueue(fu.drop_after(["Hel", "lo"]))
    seen = []
    with pytest.raises(anthropic.APIStatusError):
        with claude.messages.stream(model=MODEL, max_tokens=10, messages=ask()) as stream:
            seen.extend(stream.text_stream)
    assert "".join(seen) == "Hello"


def test_thinking_without_an_answer_is_an_error_not_an_empty_message(claude, fake):
    fake.enqueue(fu.thinking_only())
    with pytest.raises(anthropic.InternalServerError) as info:
        claude.messages.create(model=MODEL, max_tokens=10, messages=ask())
    assert info.value.status_code == 502
    fake.enqueue(fu.thinking_only())  # streamed: the thinking was already sent, so in-band
    with pytest.raises(anthropic.APIStatusError) as info:
        with claude.messages.stream(model=MODEL, max_tokens=10, messages=ask()) as stream:
            stream.get_final_message()
    assert info.value.body["error"]["type"] == "api_error"


def test_heartbeats_are_ping_events(start_gateway, settings, fake):
    gateway = start_gateway(dataclasses.replace(settings, heartbeat_interval=0.1))
    fake.enqueue(fu.stall_after(["Hel"], 0.6, ["lo"]))
    events = sse.events(
        post(gateway, {"model": MODEL, "max_tokens": 9, "stream": True, "messages": ask()})
    )
    names = [n for n, _ in events]
    first_text = names.index("content_block_delta")
    assert "ping" in names[first_text:] and names[-1] == "message_stop"


@pytest.mark.parametrize(
    ("headers", "status", "kind"),
    [
        ({}, 401, "authentication_error"),
        ({"Authorization": "Bearer " + TOKEN}, 200, None),
        ({"x-api-key": TOKEN}, 200, None),
    ],
)
def test_auth_by_x_api_key_or_bearer(gateway, headers, status, kind):
    r = requests.post(
        gateway.url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 5, "messages": ask()},
        headers={"anthropic-version": "2023-06-01"} | headers,
    )
    assert r.status_code == status
    if kind:
        assert r.json()["error"]["type"] == kind and r.json()["request_id"]


def test_bearer_auth_through_the_sdk(gateway, fake):
    c = anthropic.Anthropic(base_url=gateway.url, auth_token=TOKEN, max_retries=0)
    assert c.messages.create(model=MODEL, max_tokens=5, messages=ask()).content[0].text
    assert fake.last_completion().headers["authorization"] == "Bearer " + TOKEN


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": MODEL, "messages": ask()}, "max_tokens"),
        ({"model": MODEL, "max_tokens": 5, "messages": "hi"}, "messages"),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "assistant", "content": "x"}]},
            "messages",
        ),
        (
            {"model": MODEL, "max_tokens": 5, "messages": ask(), "tool_choice": {"type": "tool"}},
            "tool_choice",
        ),
    ],
)
def test_bad_requests_are_400_invalid_request_error(gateway, body, param):
    r = post(gateway, body)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert r.headers["x-should-retry"] == "false"


def test_unknown_model_and_route_are_not_found_errors(claude, gateway):
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.messages.create(model="gpt-9", max_tokens=5, messages=ask())
    assert info.value.body["error"]["type"] == "not_found_error"
    r = requests.post(gateway.url + "/v1/messages/nothing", json={})
    assert r.status_code == 404 and r.json()["type"] == "error"


def test_models_in_anthropic_shape(claude, fake):
    models = list(claude.models.list())
    assert default_model(fake) in {m.id for m in models} and models[0].type == "model"
    one = claude.models.retrieve(MODEL)  # claude-*: the default model, under the caller's name
    assert one.id == MODEL and one.display_name == fake.models[0]["name"]


def test_every_block_type_claude_code_sends_is_accepted(claude, fake):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": png},
                },
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "DOC BODY"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "old thoughts", "signature": "sig"},
                {"type": "redacted_thinking", "data": "opaque"},
                {
                    "type": "server_tool_use",
                    "id": "srvtoolu_1",
                    "name": "web_search",
                    "input": {"query": "q"},
                },
                {"type": "text", "text": "Seen."},
            ],
        },
        {"role": "system", "content": "Mid-conversation instruction."},
        {"role": "user", "content": [{"type": "text", "text": "and now?"}]},
    ]
    msg = claude.messages.create(
        model=MODEL,
        max_tokens=64000,
        system=[
            {
                "type": "text",
                "text": "x-anthropic-billing-header: cc_version=2.1; cc_entrypoint=cli;",
            },
            {"type": "text", "text": "You are helpful.", "cache_control": {"type": "ephemeral"}},
        ],
        messages=messages,
        tools=[WRITE_TOOL, {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
        metadata={"user_id": "someone"},
        extra_body={
            "temperature": 0.2,
            "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        },
        extra_headers={"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"},
    )
    assert msg.content[0].text
    sent = fake.last_completion().json
    text = sent["messages"][0]["content"]
    assert "billing-header" not in text and "You are helpful." in text
    assert "[attached image 1]" in text and "DOC BODY" in text and "old thoughts" not in text
    assert "==== system ====\nMid-conversation instruction." in text
    assert '<tool name="web_search">' not in text and sent["messages"][0]["chat_type"] == "search"


def test_deferred_tools_are_offered_once_a_tool_search_loads_them(claude, fake):
    deferred = {
        "name": "Cron",
        "description": "Schedule",
        "input_schema": {"type": "object"},
        "defer_loading": True,
    }
    claude.messages.create(model=MODEL, max_tokens=5, messages=ask(), tools=[WRITE_TOOL, deferred])
    assert '<tool name="Cron">' not in fake.last_completion().json["messages"][0]["content"]
    history = [
        {"role": "user", "content": "schedule"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "ToolSearch",
                    "input": {"query": "cron"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "tool_reference", "tool_name": "Cron"}],
                }
            ],
        },
    ]
    claude.messages.create(
        model=MODEL, max_tokens=5, messages=history, tools=[WRITE_TOOL, deferred]
    )
    sent = fake.last_completion().json["messages"][0]["content"]
    assert '<tool name="Cron">' in sent and "[the tool Cron is now available]" in sent


def test_the_captured_claude_code_request_is_accepted(gateway, fake):
    body, headers = captured(1)
    assert len(json.dumps(body)) > 70_000 and len(body["tools"]) == 24
    fake.enqueue(fu.answer("Claude Code via qwenfree ✓ 42", thinking="Just say it."))
    r = post(gateway, body, **headers)
    assert r.status_code == 200, r.text
    events = sse.events(r)
    text = "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta")
    assert text == "Claude Code via qwenfree ✓ 42" and events[-1][0] == "message_stop"
    assert events[0][1]["message"]["model"] == "claude-opus-4-8"
    sent = fake.last_completion().json
    prompt_text = sent["messages"][0]["content"]
    assert sent["messages"][0]["feature_config"]["thinking_enabled"] is True  # adaptive, high
    assert all(f'<tool name="{t["name"]}">' in prompt_text for t in body["tools"])
    assert "x-anthropic-billing-header" not in prompt_text
    assert "==== system ====\nAvailable agent types" in prompt_text  # the role:system entry
    assert len(fake.last_completion().body) < 120 * 1024


def test_the_captured_title_request_gets_json(gateway, fake):
    body, headers = captured(2)
    fake.enqueue(fu.answer('{"title": "Say plain run"}'))
    r = post(gateway, body, **headers)
    text = "".join(
        d["delta"].get("text", "") for n, d in sse.events(r) if n == "content_block_delta"
    )
    assert json.loads(text) == {"title": "Say plain run"}
    sent = fake.last_completion().json["messages"][0]
    assert sent["feature_config"]["thinking_enabled"] is False
    assert "JSON Schema" in sent["content"]
