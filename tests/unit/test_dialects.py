"""The Dialect contract: every registered dialect has every member and each behaves (errors in
its documented shape, ids that round-trip, the thinking policy it states), the shared helpers
(one unfence), one token estimate, and continuation ids handed back through real HTTP."""

from __future__ import annotations

import dataclasses
import json

import pytest
import requests

from qwenfree import errors, tokens
from qwenfree.accumulate import Completion
from qwenfree.catalog import ModelInfo
from qwenfree.conversation import Conversation, GenerationParams
from qwenfree.dialects import Dialect, registry
from qwenfree.dialects.common import IdPrefix, unfence
from qwenfree.events import MessageStart, MessageStop, TextDelta, Usage
from qwenfree.sse import SSEMessage
from tests import fake_upstream as fu
from tests.conftest import TOKEN, user
from tests.support.models import MODEL, NO_THINKING_MODEL

MEMBERS = {
    "name",
    "to_conversation",
    "encode_events",
    "encode_completion",
    "encode_error",
    "encode_stream_error",
    "encode_models",
    "describe_model",
    "encode_token_count",
    "ids",
    "thinking_optional",
    "error_request_id",
}
# The smallest valid request body of each dialect (as its schema leaves it).
BODIES = {
    "openai": {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    "anthropic": {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    "gemini": {"model": MODEL, "contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}
# Each dialect's documented error body for a 400, as a predicate.
ERROR_SHAPES = {
    "openai": lambda b: (
        b["error"]["type"] == "invalid_request_error" and b["error"]["param"] == "x"
    ),
    "anthropic": lambda b: b["type"] == "error" and b["error"]["type"] == "invalid_request_error",
    "gemini": lambda b: b["error"]["code"] == 400 and b["error"]["status"] == "INVALID_ARGUMENT",
}
# What each dialect's token-count answer says the count is.
COUNTS = {
    "openai": lambda b: b["input_tokens"],
    "anthropic": lambda b: b["input_tokens"],
    "gemini": lambda b: b["totalTokens"],
}
HANDLE = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0.r-1.0123456789"
DIALECTS = sorted(registry())


def test_the_contract_names_every_member_and_each_is_required():
    assert {f.name for f in dataclasses.fields(Dialect)} == MEMBERS
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(Dialect))
    with pytest.raises(TypeError):
        Dialect(**{m: None for m in MEMBERS - {"encode_token_count"}})  # type: ignore[arg-type]


def test_the_registry_holds_the_three_dialects_under_their_blueprint_names():
    assert DIALECTS == ["anthropic", "gemini", "openai"]
    assert all(registry()[name].name == name for name in DIALECTS)
    assert registry() is registry()  # built once


@pytest.mark.parametrize("name", DIALECTS)
def test_every_member_of_every_dialect_behaves(name):
    dialect = registry()[name]
    for member in MEMBERS - {"error_request_id"}:
        assert getattr(dialect, member) is not None, member
    status, body = dialect.encode_error(errors.InvalidRequest("bad", param="x"))
    assert status == 400 and ERROR_SHAPES[name](body), body
    assert "bad" in json.dumps(body)
    streamed = dialect.encode_stream_error(errors.InvalidRequest("bad", param="x"))
    assert isinstance(streamed, SSEMessage) and "bad" in json.dumps(streamed.data)
    assert COUNTS[name](dialect.encode_token_count(7)) == 7
    listed = json.dumps(dialect.encode_models([ModelInfo("qwen-x", "Qwen X")]))
    assert "qwen-x" in listed
    conversation, params = dialect.to_conversation(BODIES[name])
    assert isinstance(conversation, Conversation) and isinstance(params, GenerationParams)
    assert params.thinking_optional is dialect.thinking_optional  # the policy it states
    events = [MessageStart(HANDLE, MODEL), TextDelta("hello"), Usage(3, 1), MessageStop()]
    wire = "".join(json.dumps(m.data) for m in dialect.encode_events(events, params))
    assert "hello" in wire and dialect.ids.encode(HANDLE) in wire
    done = Completion(id=HANDLE, text="hello", usage=Usage(3, 1))
    assert "hello" in json.dumps(dialect.encode_completion(done, params))


@pytest.mark.parametrize("name", DIALECTS)
def test_each_dialect_decodes_the_ids_it_issues_and_only_those(name):
    ids = registry()[name].ids
    assert ids.decode(ids.encode(HANDLE)) == HANDLE
    assert ids.decode(None) is None and ids.decode(7) is None
    for other in DIALECTS:  # Gemini's responseId is the bare handle: no caller hands it back
        prefix = registry()[other].ids.prefix
        if ids.prefix and prefix and prefix != ids.prefix:
            assert ids.decode(prefix + HANDLE) is None, (name, other)


def test_an_id_prefix_decodes_nothing_from_a_bare_prefix():
    assert IdPrefix("msg_").decode("msg_") is None
    assert IdPrefix("msg_").decode("chatcmpl-" + HANDLE) is None


# ------------------------------------------------------------------------------ shared helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('```json\n{"a": 1}\n```', '{"a": 1}'),
        ("```\n[1, 2]\n```\n", "[1, 2]"),
        ('  {"a": "```"}  ', '{"a": "```"}'),
        # where Gemini's own regex (``` only, closing fence required) left the fence on:
        ('~~~json\n{"a": 1}\n~~~', '{"a": 1}'),
        ('```json\n{"a": 1}', '{"a": 1}'),  # an answer cut off before its closing fence
    ],
)
def test_unfence(text, expected):
    assert unfence(text) == expected


def test_gemini_json_mode_unfences_as_json_mode_checks():
    """JSON mode accepts a ``~~~`` fence (tools/repair.py); Gemini sent it on fenced."""
    gemini = registry()["gemini"]
    params = GenerationParams(model=MODEL, extra={"json_schema": {}})
    done = Completion(id=HANDLE, text='~~~json\n{"a": 1}\n~~~')
    body = gemini.encode_completion(done, params)
    assert body["candidates"][0]["content"]["parts"][0]["text"] == '{"a": 1}'


# ------------------------------------------------------------------------------ tokens


def test_the_token_estimate_is_a_quarter_of_the_escaped_bytes():
    assert tokens.estimate("abcd") == 2  # "abcd" travels as 6 bytes with its quotes
    assert tokens.estimate("你好世界") == 7  # 4 × \uXXXX + quotes = 26 bytes: CJK costs more
    assert tokens.estimate("你好世界") > tokens.estimate("abcdefgh")


def test_anthropic_and_gemini_count_a_prompt_alike(gateway):
    text = "你好，世界。Hello, world! " * 20
    auth = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
    body = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    anthropic = requests.post(
        gateway.url + "/v1/messages/count_tokens", json=body, headers=auth, timeout=15
    )
    gemini = requests.post(
        gateway.url + f"/v1beta/models/{MODEL}:countTokens",
        json={"contents": [{"parts": [{"text": text}]}]},
        headers={"x-goog-api-key": TOKEN},
        timeout=15,
    )
    assert anthropic.status_code == gemini.status_code == 200
    assert anthropic.json()["input_tokens"] == gemini.json()["totalTokens"] == tokens.estimate(text)


# ------------------------------------------------------------------------------ thinking policy


def _ask_to_think(gateway, name: str) -> requests.Response:
    """Each dialect's way of asking a model that cannot think to think."""
    if name == "openai":
        url, headers = "/v1/chat/completions", {"Authorization": "Bearer " + TOKEN}
        body = {"model": NO_THINKING_MODEL, "messages": user(), "reasoning_effort": "high"}
    elif name == "anthropic":
        url, headers = "/v1/messages", {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
        body = {"model": NO_THINKING_MODEL, "max_tokens": 5, "messages": user()}
        body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    else:
        url, headers = (
            f"/v1beta/models/{NO_THINKING_MODEL}:generateContent",
            {"x-goog-api-key": TOKEN},
        )
        body = {"contents": [{"parts": [{"text": "hi"}]}]}
        body["generationConfig"] = {"thinkingConfig": {"thinkingBudget": 1024}}
    return requests.post(gateway.url + url, json=body, headers=headers, timeout=15)


@pytest.mark.parametrize("name", DIALECTS)
def test_a_wish_to_think_is_dropped_or_refused_as_the_dialect_states(gateway, fake, name):
    r = _ask_to_think(gateway, name)
    if registry()[name].thinking_optional:
        assert r.status_code == 200, r.text
        sent = fake.last_completion().json["messages"][0]["feature_config"]
        assert sent["thinking_enabled"] is False and "thinking_budget" not in sent
    else:
        assert r.status_code == 400 and "cannot think" in r.text


# ------------------------------------------------------------------------------ continuation


def _continue(gateway, conversation_id: str) -> requests.Response:
    history = user("one") + [
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"},
    ]
    body = {"model": MODEL, "messages": history, "conversation_id": conversation_id}
    headers = {"Authorization": "Bearer " + TOKEN}
    return requests.post(
        gateway.url + "/v1/chat/completions", json=body, headers=headers, timeout=15
    )


def test_a_streamed_completion_id_handed_back_continues_the_chat(gateway, fake):
    headers = {"Authorization": "Bearer " + TOKEN}
    body = {"model": MODEL, "messages": user("one"), "stream": True}
    r = requests.post(gateway.url + "/v1/chat/completions", json=body, headers=headers, timeout=15)
    first = json.loads(r.text.split("\n")[0].removeprefix("data: "))
    assert first["id"].startswith("chatcmpl-")
    assert _continue(gateway, first["id"]).status_code == 200
    one, two = fake.completions()
    assert two.query["chat_id"] == one.query["chat_id"] and two.json["parent_id"]


@pytest.mark.parametrize("prefix", ["msg_", "resp_", "foo-", ""])
def test_an_id_without_the_dialects_own_prefix_starts_a_fresh_chat(gateway, fake, prefix):
    first = _continue(gateway, "none").json()["id"]  # a fresh chat: its handle is real
    handle = first.removeprefix("chatcmpl-")
    fake.enqueue(fu.answer("fresh"))
    assert _continue(gateway, prefix + handle).json()["choices"][0]["message"]["content"] == "fresh"
    one, two = fake.completions()
    assert two.query["chat_id"] != one.query["chat_id"] and two.json["parent_id"] is None
