"""The Gemini dialect through the official google-genai SDK (and raw HTTP for wire details),
against the gateway and the fake upstream."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel

from qwenfree.conversation import GenerationParams
from qwenfree.dialects.gemini import translate
from qwenfree.dialects.gemini.contents import json_schema
from qwenfree.dialects.gemini.schemas import camelize
from qwenfree.events import (
    Heartbeat,
    MessageStart,
    MessageStop,
    ReasoningDelta,
    StopReason,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support import sse
from tests.support.models import MODEL, NO_THINKING_MODEL, default_model, model_entry

FIXTURES = Path(__file__).parents[1] / "fixtures"
KEY = {"x-goog-api-key": TOKEN}


@pytest.fixture
def genai_client(gateway):
    return genai.Client(api_key=TOKEN, http_options={"base_url": gateway.url, "timeout": 15_000})


@pytest.fixture
def beta_client(gateway):
    """gemini-cli's flavour: the /v1beta prefix."""
    options = {"base_url": gateway.url, "api_version": "v1beta", "timeout": 15_000}
    return genai.Client(api_key=TOKEN, http_options=options)


def post(gateway, path, body, headers=KEY, **kwargs):
    return requests.post(gateway.url + path, json=body, headers=headers, timeout=15, **kwargs)


def prompt_sent(fake) -> str:
    return fake.last_completion().json["messages"][0]["content"]


def feature_config(fake) -> dict:
    return fake.last_completion().json["messages"][0]["feature_config"]


def sse_lines(text: str) -> list[str]:
    return text.split("\n")


# ------------------------------------------------------------------------------ answers


def test_generate_content_answers_with_usage_and_echoes_the_model(genai_client, fake):
    fake.enqueue(fu.answer("Paris is the capital.", input_tokens=1200))
    done = genai_client.models.generate_content(model="gemini-2.5-flash", contents="capital?")
    assert done.text == "Paris is the capital."
    assert done.candidates[0].finish_reason == types.FinishReason.STOP
    assert done.model_version == "gemini-2.5-flash"
    assert done.response_id
    usage = done.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count) == (1200, 3)
    assert usage.total_token_count == 1203
    assert fake.last_completion().json["model"] == default_model(fake)  # gemini-*: the default


def test_stream_yields_the_exact_text_and_one_finish_reason_at_the_end(genai_client, fake):
    fake.enqueue(fu.answer("One, two; 🌍 three.", pieces=["One, two", "; 🌍 ", "three."]))
    chunks = list(
        genai_client.models.generate_content_stream(model="gemini-2.5-pro", contents="count")
    )
    assert "".join(c.text or "" for c in chunks) == "One, two; 🌍 three."
    finishes = [c.candidates[0].finish_reason for c in chunks if c.candidates[0].finish_reason]
    assert finishes == [types.FinishReason.STOP]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == 3
    assert {c.response_id for c in chunks} == {chunks[0].response_id}


def test_raw_qwen_ids_and_suffixes_work(genai_client, fake):
    genai_client.models.generate_content(model=NO_THINKING_MODEL, contents="hi")
    assert fake.last_completion().json["model"] == NO_THINKING_MODEL
    genai_client.models.generate_content(model=f"{MODEL}-search", contents="news?")
    assert fake.last_completion().json["messages"][0]["chat_type"] == "search"


def test_sse_wire_format_has_only_data_frames_and_no_done(gateway, fake):
    fake.enqueue(fu.answer("Hi there", pieces=["Hi", " there"]))
    r = post(
        gateway,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    assert r.text.endswith("\n\n") and "[DONE]" not in r.text
    frames = [data for _, data in sse.events(r)]
    assert all(line.startswith("data: ") for line in sse_lines(r.text) if line)
    assert "".join(
        p.get("text", "") for f in frames for p in f["candidates"][0]["content"]["parts"]
    )
    assert frames[-1]["candidates"][0]["finishReason"] == "STOP"
    assert frames[-1]["usageMetadata"]["totalTokenCount"] > 0


def test_stream_without_alt_sse_is_a_json_array(gateway, fake):
    fake.enqueue(fu.answer("Hi there", pieces=["Hi", " there"]))
    r = post(
        gateway,
        "/v1/models/gemini-2.5-flash:streamGenerateContent",
        {"contents": [{"parts": [{"text": "hi"}]}]},
    )
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert isinstance(body, list) and len(body) >= 2
    text = "".join(p.get("text", "") for c in body for p in c["candidates"][0]["content"]["parts"])
    assert text == "Hi there"
    assert body[-1]["candidates"][0]["finishReason"] == "STOP"


# ------------------------------------------------------------------------------ thinking


def thinking_config(**kwargs):
    return types.GenerateContentConfig(thinking_config=types.ThinkingConfig(**kwargs))


def test_thoughts_are_sent_only_when_asked_for(genai_client, fake):
    fake.enqueue(fu.answer("Hi!", thinking="Consider the greeting."))
    config = thinking_config(include_thoughts=True, thinking_budget=300)
    chunks = list(
        genai_client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi", config=config
        )
    )
    parts = [p for c in chunks for p in c.candidates[0].content.parts or []]
    assert "".join(p.text for p in parts if p.thought) == "Consider the greeting."
    assert "".join(p.text for p in parts if not p.thought) == "Hi!"
    assert chunks[-1].usage_metadata.thoughts_token_count == 1
    assert feature_config(fake)["thinking_budget"] == 300

    fake.enqueue(fu.answer("Hi!", thinking="Hidden."))
    done = genai_client.models.generate_content(
        model="gemini-2.5-flash", contents="hi", config=thinking_config(thinking_budget=300)
    )
    assert [p.thought for p in done.candidates[0].content.parts] == [None]
    assert done.text == "Hi!"


def test_non_stream_thought_part_comes_first(genai_client, fake):
    fake.enqueue(fu.answer("Yes.", thinking="Think hard."))
    done = genai_client.models.generate_content(
        model="gemini-2.5-flash",
        contents="ok?",
        config=thinking_config(include_thoughts=True, thinking_level=types.ThinkingLevel.HIGH),
    )
    parts = done.candidates[0].content.parts
    assert (parts[0].thought, parts[0].text) == (True, "Think hard.")
    assert parts[1].text == "Yes." and not parts[1].thought


@pytest.mark.parametrize(
    ("config", "thinks", "budget"),
    [
        ({"thinkingBudget": 0}, False, None),
        ({"thinkingBudget": -1}, True, None),
        ({"thinkingBudget": 2048}, True, 2048),
        ({"thinkingLevel": "HIGH"}, True, None),
        ({"thinking_level": "low"}, False, None),
        ({"includeThoughts": True}, False, None),  # visibility only: the default model's default
    ],
)
def test_thinking_config_maps_to_upstream_thinking(gateway, fake, config, thinks, budget):
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": config},
    }
    assert post(gateway, "/v1beta/models/gemini-2.5-pro:generateContent", body).status_code == 200
    sent = feature_config(fake)
    assert sent["thinking_enabled"] is thinks
    assert sent.get("thinking_budget") == budget


def test_thinking_request_on_a_model_that_cannot_think_is_dropped(gateway, fake):
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"}},
    }
    r = post(gateway, f"/v1beta/models/{NO_THINKING_MODEL}:generateContent", body)
    assert r.status_code == 200, r.text
    assert feature_config(fake)["thinking_enabled"] is False


# ------------------------------------------------------------------------------ request mapping


def test_system_instruction_and_history_are_flattened(genai_client, fake):
    genai_client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[
            types.Content(role="user", parts=[types.Part(text="a: b; c")]),
            types.Content(role="model", parts=[types.Part(text="ok")]),
            types.Content(role="user", parts=[types.Part(text="next\nline")]),
        ],
        config=types.GenerateContentConfig(system_instruction="Be terse."),
    )
    content = prompt_sent(fake)
    assert "==== system ====\nBe terse." in content
    assert "==== user ====\na: b; c" in content
    assert "==== assistant ====\nok" in content
    assert content.endswith("==== user ====\nnext\nline")


def test_snake_case_rest_bodies_and_a_string_system_instruction(gateway, fake):
    body = {
        "system_instruction": "Answer in French.",
        "contents": [{"role": "user", "parts": [{"text": "hello"}]}],
        "generation_config": {"max_output_tokens": 64, "stop_sequences": ["END"]},
        "safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
    }
    r = post(gateway, "/v1beta/models/gemini-2.0-flash:generateContent", body)
    assert r.status_code == 200, r.text
    assert "==== system ====\nAnswer in French." in prompt_sent(fake)


def test_function_history_reaches_the_upstream_paired_by_id(gateway, fake):
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "read hello.txt"}]},
            {
                "role": "model",
                "parts": [
                    {"thought": True, "text": "I should read it."},
                    {"functionCall": {"name": "read_file", "args": {"path": "hello.txt"}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "read_file", "response": {"output": "HELLO"}}},
                ],
            },
        ],
        "tools": [
            {"functionDeclarations": [{"name": "read_file", "parameters": {"type": "OBJECT"}}]}
        ],
    }
    r = post(gateway, "/v1beta/models/gemini-2.5-flash:generateContent", body)
    assert r.status_code == 200, r.text
    content = prompt_sent(fake)
    assert "read_file" in content and "hello.txt" in content and "HELLO" in content
    assert content.count("call_0_read_file") == 2  # one synthetic id on the call and result
    assert "I should read it." not in content  # earlier thinking is not replayed


def test_inline_images_and_text_files_are_accepted(gateway, fake):
    png = base64.b64encode(fu.PNG).decode()
    notes = base64.b64encode("café notes".encode()).decode()
    body = {
        "contents": [
            {
                "parts": [
                    {"text": "what is this?"},
                    {"inlineData": {"mimeType": "image/png", "data": png}},
                    {"inline_data": {"mime_type": "text/plain", "data": notes}},
                ]
            }
        ]
    }
    r = post(gateway, "/v1beta/models/gemini-2.5-flash:generateContent", body)
    assert r.status_code == 200, r.text
    assert "café notes" in prompt_sent(fake)


def test_google_search_tool_turns_on_search_and_returns_grounding(genai_client, fake):
    source = {"url": "https://example.org/a", "title": "A", "snippet": "s"}
    fake.enqueue(fu.answer("Found it.", search=[source]))
    done = genai_client.models.generate_content(
        model="gemini-2.5-flash",
        contents="news?",
        config=types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())]),
    )
    assert fake.last_completion().json["messages"][0]["chat_type"] == "search"
    assert done.text == "Found it."
    chunk = done.candidates[0].grounding_metadata.grounding_chunks[0]
    assert (chunk.web.uri, chunk.web.title) == ("https://example.org/a", "A")


def test_the_captured_gemini_cli_requests_are_accepted(gateway, fake):
    capture = json.loads((FIXTURES / "gemini_cli_request.json").read_text())
    for recorded in capture["requests"]:
        fake.enqueue(fu.answer('{"complexity_reasoning": "simple", "complexity_score": 5}'))
        headers = {k: v for k, v in recorded["headers"].items() if v != "<varies>"}
        headers["x-goog-api-key"] = TOKEN
        r = requests.post(
            gateway.url + recorded["path"], json=expand(recorded["body"]), headers=headers
        )
        assert r.status_code == 200, r.text
    assert len(fake.completions()) == 2
    content = prompt_sent(fake)
    assert "You are Gemini CLI" in content and "session_context" in content


def expand(value):
    """The capture abbreviates long strings as {"_head", "_chars"}; rebuild strings that long."""
    if isinstance(value, dict):
        if set(value) == {"_head", "_chars"}:
            return value["_head"].ljust(value["_chars"], ".")
        return {k: expand(v) for k, v in value.items() if k != "_tool_names"}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


# ------------------------------------------------------------------------------ JSON mode


class Verdict(BaseModel):
    answer: str
    score: int


def test_json_mode_strips_a_markdown_fence(genai_client, fake):
    fake.enqueue(fu.answer('```json\n{"answer": "yes", "score": 7}\n```'))
    done = genai_client.models.generate_content(
        model="gemini-2.5-flash",
        contents="judge",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=Verdict
        ),
    )
    assert done.parsed == Verdict(answer="yes", score=7)


def test_json_mode_streams_the_json_unfenced(genai_client, fake):
    fake.enqueue(
        fu.answer(
            '```\n{"answer": "no", "score": 1}\n```',
            pieces=["```\n{", '"answer": "no", "score": 1}\n```'],
        )
    )
    config = types.GenerateContentConfig(response_mime_type="application/json")
    chunks = genai_client.models.generate_content_stream(
        model="gemini-2.5-flash", contents="judge", config=config
    )
    assert json.loads("".join(c.text or "" for c in chunks)) == {"answer": "no", "score": 1}


def test_json_mode_puts_the_schema_in_the_prompt(genai_client, fake):
    fake.enqueue(fu.answer('{"answer": "yes", "score": 7}'))
    genai_client.models.generate_content(
        model="gemini-2.5-flash",
        contents="judge",
        config=types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=Verdict
        ),
    )
    assert '"score"' in prompt_sent(fake)


# ------------------------------------------------------------------------------ tools


def tool_use(name: str, args: dict) -> str:
    """A call written the way the tool engine's prompt asks the model to (tools/protocol.py)."""
    return f'<tool_use name="{name}">\n{json.dumps(args)}\n</tool_use>'


WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather for a city",
    parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
)


def test_function_calling_round_trip(genai_client, fake):
    fake.enqueue(fu.answer(tool_use("get_weather", {"city": "Paris"})))
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    first = genai_client.models.generate_content(
        model="gemini-2.5-flash", contents="Weather in Paris?", config=config
    )
    call = first.function_calls[0]
    assert (call.name, call.args) == ("get_weather", {"city": "Paris"})
    fake.enqueue(fu.answer("It is sunny in Paris."))
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
        first.candidates[0].content,
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"output": "sunny"})
            ],
        ),
    ]
    second = genai_client.models.generate_content(
        model="gemini-2.5-flash", contents=history, config=config
    )
    assert second.text == "It is sunny in Paris."
    assert "sunny" in prompt_sent(fake)


def test_function_call_streams_as_a_function_call_part(genai_client, fake):
    fake.enqueue(fu.answer(tool_use("get_weather", {"city": "Oslo"})))
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode="ANY")
        ),
    )
    chunks = list(
        genai_client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="Weather in Oslo?", config=config
        )
    )
    calls = [
        p.function_call
        for c in chunks
        for p in c.candidates[0].content.parts or []
        if p.function_call
    ]
    assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Oslo"})]
    assert calls[0].id
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


# ------------------------------------------------------------------------------ models, tokens


def test_count_tokens_for_contents_and_for_a_whole_request(genai_client, gateway):
    short = genai_client.models.count_tokens(model="gemini-2.5-flash", contents="hello world")
    long = genai_client.models.count_tokens(model="gemini-2.5-flash", contents="hello world " * 50)
    assert 0 < short.total_tokens < long.total_tokens
    body = {
        "generateContentRequest": {
            "model": "models/gemini-2.5-flash",
            "contents": [{"parts": [{"text": "hello world " * 50}]}],
            "systemInstruction": {"parts": [{"text": "Be terse."}]},
        }
    }
    r = post(gateway, "/v1beta/models/gemini-2.5-flash:countTokens", body)
    assert r.status_code == 200 and r.json()["totalTokens"] > long.total_tokens
    bad = post(gateway, "/v1beta/models/gemini-2.5-flash:countTokens", {})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("which", ["genai_client", "beta_client"])
def test_models_list_and_get_in_gemini_shape(request, which, fake):
    client = request.getfixturevalue(which)
    models = {m.name: m for m in client.models.list()}
    name = f"models/{MODEL}"
    assert {name, f"{name}-thinking", f"models/{NO_THINKING_MODEL}"} <= set(models)
    meta = model_entry(MODEL)["info"]["meta"]
    assert models[name].input_token_limit == meta["max_context_length"]
    assert models[name].output_token_limit == meta["max_generation_length"]
    assert "generateContent" in models[name].supported_actions
    alias = client.models.get(model="gemini-2.5-flash")  # the default model, under that name
    assert alias.name == "models/gemini-2.5-flash"
    assert alias.display_name == fake.models[0]["name"]
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.get(model="nope-1")
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")


def test_openai_and_google_sdks_share_v1_models(gateway, client, genai_client):
    assert MODEL in {m.id for m in client.models.list()}
    assert client.models.retrieve(MODEL).id == MODEL
    assert f"models/{MODEL}" in {m.name for m in genai_client.models.list()}
    assert genai_client.models.get(model=MODEL).name == f"models/{MODEL}"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gemini-2.5-flash")  # aliases are for Google clients only


@pytest.mark.parametrize("method", ["embedContent", "batchEmbedContents"])
def test_embeddings_are_unimplemented(gateway, method):
    r = post(gateway, f"/v1beta/models/text-embedding-004:{method}", {"content": {"parts": []}})
    assert r.status_code == 501
    assert r.json()["error"]["status"] == "UNIMPLEMENTED"


def test_embed_content_through_the_sdk_is_a_server_error(genai_client):
    with pytest.raises(genai_errors.ServerError) as info:
        genai_client.models.embed_content(model="text-embedding-004", contents="hi")
    assert (info.value.code, info.value.status) == (501, "UNIMPLEMENTED")


# ------------------------------------------------------------------------------ auth, bad input


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1beta/models/gemini-2.5-flash:generateContent", {"x-goog-api-key": TOKEN}),
        ("/v1beta/models/gemini-2.5-flash:generateContent?key=" + TOKEN, {}),
        ("/v1beta/models/gemini-2.5-flash:generateContent", {"Authorization": "Bearer " + TOKEN}),
    ],
    ids=["x-goog-api-key", "query-key", "bearer"],
)
def test_the_key_may_come_three_ways(gateway, fake, path, headers):
    r = post(gateway, path, {"contents": [{"parts": [{"text": "hi"}]}]}, headers=headers)
    assert r.status_code == 200, r.text
    assert fake.last_completion().headers["authorization"] == "Bearer " + TOKEN


def test_a_missing_key_is_401_unauthenticated(gateway, fake):
    r = post(gateway, "/v1beta/models/gemini-2.5-flash:generateContent", {}, headers={})
    assert r.status_code == 401
    assert r.json()["error"]["status"] == "UNAUTHENTICATED"
    assert fake.completions() == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"contents": []},
        {"contents": [{"role": "robot", "parts": [{"text": "hi"}]}]},
        {"contents": [{"parts": "hi"}]},
        {"contents": [{"role": "model", "parts": [{"text": "only me"}]}]},
        {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"temperature": 5}},
        {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"candidateCount": 2}},
        {
            "contents": [
                {"parts": [{"inlineData": {"mimeType": "application/pdf", "data": "AA=="}}]}
            ]
        },
        {"contents": [{"parts": [{"functionCall": {"args": {}}}]}]},
        {
            "contents": [{"parts": [{"text": "hi"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}},
        },
    ],
)
def test_bad_requests_are_400_invalid_argument(gateway, fake, body):
    r = post(gateway, "/v1beta/models/gemini-2.5-flash:generateContent", body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400 and error["message"]
    assert fake.completions() == []


def test_non_json_body_and_unknown_routes_answer_in_gemini_shape(gateway):
    r = requests.post(
        gateway.url + "/v1beta/models/gemini-2.5-flash:generateContent", data="{", headers=KEY
    )
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    for path in ("/v1beta/models/gemini-2.5-flash:explode", "/v1beta/tunedModels"):
        r = post(gateway, path, {})
        assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"


def test_unknown_model_is_404_not_found(genai_client, fake):
    with pytest.raises(genai_errors.ClientError) as info:
        genai_client.models.generate_content(model="llama-9", contents="hi")
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")
    assert MODEL in info.value.message


# ------------------------------------------------------------------------------ upstream failures


UPSTREAM_FAILURES = [
    pytest.param(lambda: fu.rate_limited(4), 429, "RESOURCE_EXHAUSTED", id="rate-limited"),
    pytest.param(lambda: fu.waf_html(), 502, "INTERNAL", id="waf"),
    pytest.param(lambda: fu.empty_stream(), 502, "INTERNAL", id="empty-stream"),
    # pass-through: the caller's own credential was refused -> the caller's 401
    pytest.param(lambda: fu.http_error(401, b"{}"), 401, "UNAUTHENTICATED", id="token-rejected"),
    pytest.param(
        lambda: fu.in_stream_error("data_inspection_failed"), 400, "INVALID_ARGUMENT", id="filter"
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["generate", "stream"])
@pytest.mark.parametrize(("script", "code", "status"), UPSTREAM_FAILURES)
def test_upstream_failures_are_sdk_errors_with_code_and_status(
    genai_client, fake, script, code, status, stream
):
    fake.enqueue(script())
    expected = genai_errors.ClientError if code < 500 else genai_errors.ServerError
    with pytest.raises(expected) as info:
        if stream:
            list(
                genai_client.models.generate_content_stream(model="gemini-2.5-flash", contents="x")
            )
        else:
            genai_client.models.generate_content(model="gemini-2.5-flash", contents="x")
    assert (info.value.code, info.value.status) == (code, status)
    assert info.value.message


def test_rate_limit_has_retry_info_and_retry_after(gateway, fake):
    fake.enqueue(fu.rate_limited(4))
    r = post(
        gateway,
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"parts": [{"text": "hi"}]}]},
    )
    assert r.status_code == 429 and r.headers["Retry-After"] == str(4 * 3600)
    details = r.json()["error"]["details"]
    retry = [d for d in details if d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"]
    assert retry == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "14400s"}]


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(lambda: fu.drop_after(["Hel", "lo"]), id="connection-drop"),
        pytest.param(
            lambda: fu.in_stream_error("internal_error", "boom", after=["Hel", "lo"]), id="frame"
        ),
    ],
)
def test_mid_stream_failure_raises_after_the_earlier_chunks(genai_client, fake, script):
    fake.enqueue(script())
    seen = []
    with pytest.raises(genai_errors.APIError) as info:
        for chunk in genai_client.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi"
        ):
            seen.append(chunk.text or "")
    assert "".join(seen) == "Hello"
    assert info.value.code >= 500 and info.value.status in ("INTERNAL", "UNAVAILABLE")


def test_mid_stream_error_frame_is_the_last_line_and_has_no_finish(gateway, fake):
    fake.enqueue(fu.drop_after(["Hel", "lo"]))
    r = post(
        gateway,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"contents": [{"parts": [{"text": "hi"}]}]},
    )
    frames = [data for _, data in sse.events(r)]
    assert set(frames[-1]) == {"error"} and frames[-1]["error"]["code"] == 502
    assert not any(f.get("candidates", [{}])[0].get("finishReason") for f in frames)


def test_heartbeats_never_reach_a_gemini_stream(start_gateway, settings, fake):
    gateway = start_gateway(
        dataclasses.replace(settings, heartbeat_interval=0.02, read_timeout=5.0)
    )
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    fake.enqueue(fu.stall_after(["Hel", "lo"], 0.5, ["!"]))
    r = post(gateway, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", body)
    assert r.status_code == 200
    lines = sse_lines(r.text)
    assert all(line.startswith("data: ") for line in lines if line), lines
    text = "".join(
        p.get("text", "") for _, f in sse.events(r) for p in f["candidates"][0]["content"]["parts"]
    )
    assert text == "Hello!"
    # The same stall on the OpenAI route does produce pings: heartbeats were really on.
    fake.enqueue(fu.stall_after(["Hel", "lo"], 0.5, ["!"]))
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
        },
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert ": ping" in r.text


def test_allowed_function_names_narrow_the_tools_and_force_the_call(genai_client, fake):
    fake.enqueue(fu.answer(tool_use("get_time", {})))
    clock = types.FunctionDeclaration(name="get_time", description="The time")
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER, clock])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode="ANY", allowed_function_names=["get_time"]
            )
        ),
    )
    done = genai_client.models.generate_content(
        model="gemini-2.5-flash", contents="time?", config=config
    )
    assert [c.name for c in done.function_calls] == ["get_time"]
    content = prompt_sent(fake)
    assert '"get_time"' in content and "get_weather" not in content


# ------------------------------------------------------------------------------ pure translation


def params(**extra) -> GenerationParams:
    return GenerationParams(model="gemini-2.5-flash", stream=True, extra=extra)


def frames(events, **extra) -> list:
    data = (m.data for m in translate.encode_events(events, params(**extra)))
    return [json.loads(d) if isinstance(d, str) else d for d in data]  # text comes serialised


def test_openapi_schemas_become_json_schema():
    schema = {
        "type": "OBJECT",
        "properties": {
            "type": {"type": "STRING", "nullable": True},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
        },
        "required": ["type"],
        "propertyOrdering": ["type", "tags"],
    }
    assert json_schema(schema) == {
        "type": "object",
        "properties": {
            "type": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["type"],
    }


def test_camelize_leaves_caller_data_alone():
    body = {
        "generation_config": {
            "response_schema": {"properties": {"snake_name": {"type": "STRING"}}}
        },
        "contents": [{"parts": [{"function_call": {"name": "f", "args": {"file_path": "a"}}}]}],
    }
    assert camelize(body) == {
        "generationConfig": {"responseSchema": {"properties": {"snake_name": {"type": "STRING"}}}},
        "contents": [{"parts": [{"functionCall": {"name": "f", "args": {"file_path": "a"}}}]}],
    }


def test_heartbeats_and_unasked_thoughts_produce_no_frames():
    events = [
        MessageStart("id-1", MODEL),
        Heartbeat(),
        ReasoningDelta("hmm"),
        Heartbeat(),
        TextDelta("Hi"),
        Usage(10, 5, reasoning_tokens=2),
        MessageStop(),
    ]
    out = frames(events)
    assert [f["candidates"][0]["content"]["parts"] for f in out] == [[{"text": "Hi"}], []]
    assert out[-1]["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 3,
        "thoughtsTokenCount": 2,
        "totalTokenCount": 15,
    }
    assert {f["responseId"] for f in out} == {"id-1"}


def test_streamed_calls_become_one_function_call_part_each():
    events = [
        MessageStart("id-1", MODEL),
        TextDelta("Let me check."),
        ToolCallStart(0, "call_a", "get_weather"),
        ToolCallDelta(0, '{"city":'),
        ToolCallDelta(0, '"Oslo"}'),
        ToolCallStart(1, "call_b", "get_time"),
        MessageStop(StopReason.TOOL_USE),
    ]
    out = frames(events)
    assert out[1]["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_a"}},
        {"functionCall": {"name": "get_time", "args": {}, "id": "call_b"}},
    ]
    assert out[-1]["candidates"][0]["finishReason"] == "STOP"


def test_unparseable_call_arguments_finish_as_malformed_function_call():
    events = [
        ToolCallStart(0, "c", "f"),
        ToolCallDelta(0, "{oops"),
        MessageStop(StopReason.TOOL_USE),
    ]
    out = frames(events)
    assert out[-1]["candidates"][0]["finishReason"] == "MALFORMED_FUNCTION_CALL"
    assert not any(p for f in out for p in f["candidates"][0]["content"]["parts"])
