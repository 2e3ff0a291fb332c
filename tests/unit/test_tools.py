"""The tool engine: the incremental call parser (every split point, property tests), JSON
repair, JSON mode, stop strings, prompt rendering, and the OpenAI dialect end to end."""

from __future__ import annotations

import json

import openai
import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from qwenfree import prompt, tokens
from qwenfree.conversation import (
    Conversation,
    GenerationParams,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)
from qwenfree.events import StopReason, TextDelta, ToolCallDelta, ToolCallStart
from qwenfree.tools import jsonmode
from qwenfree.tools.engine import OutputRules, Shaper, StopFilter
from qwenfree.tools.parser import Call, CallParser
from qwenfree.tools.repair import parse_arguments
from tests import fake_upstream as fu
from tests.conftest import TOKEN, user
from tests.support.models import MODEL
from tests.support.tool_calls import call

ALLOWED = frozenset({"Write", "Read"})


def merged(pieces):
    out = []
    for piece in pieces:
        if isinstance(piece, str) and out and isinstance(out[-1], str):
            out[-1] += piece
        elif piece != "":
            out.append(piece)
    return out


def parse(chunks, allowed=ALLOWED, single=False):
    parser = CallParser(allowed, single=single)
    out = []
    for chunk in chunks:
        out += parser.feed(chunk)
    return merged(out + parser.finish())


W = Call("Write", '{"file_path": "/a.txt", "content": "x\\ny"}')
R = Call("Read", '{"file_path": "/b.txt"}')
WRITE = call("Write", {"file_path": "/a.txt", "content": "x\ny"})
READ = call("Read", {"file_path": "/b.txt"})

ANSWERS = [
    pytest.param(
        "Plain text, no calls.\nSecond line.", ["Plain text, no calls.\nSecond line."], id="plain"
    ),
    pytest.param(f"I'll write it.\n{WRITE}\n", ["I'll write it.", W], id="text-then-call"),
    pytest.param(f"{WRITE}\n{READ}\nBoth sent.", [W, R, "Both sent."], id="two-calls-and-after"),
    pytest.param(
        f"Say `{WRITE[:22]}` inline.", [f"Say `{WRITE[:22]}` inline."], id="inline-mention"
    ),
    pytest.param(
        f"Example:\n```\n{WRITE}\n```\nDone.",
        [f"Example:\n```\n{WRITE}\n```\nDone."],
        id="in-fence",
    ),
    pytest.param(
        '<tool_use name="Delete">\n{"path": "/"}\n</tool_use>',
        ['<tool_use name="Delete">\n{"path": "/"}\n</tool_use>'],
        id="unknown-tool",
    ),
    pytest.param(
        '<tool_use name="Write">\nI would write here\n</tool_use>',
        ['<tool_use name="Write">\nI would write here\n</tool_use>'],
        id="prose-not-json",
    ),
    pytest.param(
        '<tool_use name="Write">\n{"content": "say "hi" now", "n": 1,}\n</tool_use>',
        [Call("Write", '{"content": "say \\"hi\\" now", "n": 1}')],
        id="stray-quotes-trailing-comma",
    ),
    pytest.param(
        '<tool_use name="Write">\n{"content": "line one\nline two"}\n</tool_use>',
        [Call("Write", '{"content": "line one\\nline two"}')],
        id="raw-newline-in-string",
    ),
    pytest.param(
        '<tool_use name="Write">\n{"file_path": "/a", "content": "cut off',
        [Call("Write", '{"file_path": "/a", "content": "cut off"}', truncated=True)],
        id="truncated",
    ),
    pytest.param(
        '<tool_use name="Read">\n{"file_path": "/b.txt"}\nThen more.',
        [R, "Then more."],
        id="forgot-close",
    ),
    pytest.param(
        '<tool_use name="read">\n```json\n{"file_path": "/b.txt"}\n```\n</tool_use>',
        [R],
        id="fenced-json-and-case",
    ),
    pytest.param(
        f'{READ}\n<tool_result id="x">\nimagined\n</tool_result>\nSo the file says…',
        [R],
        id="forged-result-ends-answer",
    ),
    pytest.param(
        '<tool_use name="Write">\n{"content": "</tool_use> inside"}\n</tool_use>',
        [Call("Write", '{"content": "</tool_use> inside"}')],
        id="close-tag-inside-string",
    ),
    pytest.param(
        "<tool_users>x</tool_users>\n<tool", ["<tool_users>x</tool_users>\n<tool"], id="near-miss"
    ),
]


@pytest.mark.parametrize(("text", "expected"), ANSWERS)
def test_answers_split_at_every_offset_parse_the_same(text, expected):
    assert parse([text]) == expected
    assert parse(list(text)) == expected  # one character at a time
    for cut in range(len(text) + 1):
        assert parse([text[:cut], text[cut:]]) == expected, cut


def test_plain_text_streams_without_waiting_for_the_line_end():
    parser = CallParser(ALLOWED)
    assert parser.feed("Hello wor") == ["Hello wor"]
    assert parser.feed("ld") == ["ld"]
    assert parser.feed("\n<tool") == []  # a possible marker (and the line break before it) waits
    assert parser.feed("box") == ["\n<toolbox"]


def test_single_call_mode_stops_after_the_first_call():
    assert parse([f"{WRITE}\n{READ}\n"], single=True) == [W]


def test_only_the_named_tool_is_accepted_when_one_is_forced():
    assert parse([READ], allowed=frozenset({"Write"})) == [READ]


safe_text = st.text(st.characters(blacklist_characters="<`~"), max_size=200)


@settings(max_examples=200, deadline=None)
@given(text=safe_text, cuts=st.lists(st.integers(0, 200), max_size=6))
def test_text_without_markers_passes_through_unchanged(text, cuts):
    bounds = sorted({0, len(text), *[c % (len(text) + 1) for c in cuts]})
    chunks = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert "".join(p for p in parse(chunks) if isinstance(p, str)) == text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    before=safe_text,
    args=st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
def test_any_rendered_call_is_recovered_whatever_the_chunking(before, args, cuts):
    text = (before + "\n" if before else "") + call("Write", args)
    bounds = sorted({0, len(text), *[c % (len(text) + 1) for c in cuts]})
    pieces = parse([text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)])
    calls = [p for p in pieces if isinstance(p, Call)]
    assert len(calls) == 1 and json.loads(calls[0].arguments) == args


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ('{"a": 1}', {"a": 1}),
        ('```json\n{"a": 1}\n```', {"a": 1}),
        ("{'a': 'it\\'s', 'b': True, 'c': None}", {"a": "it's", "b": True, "c": None}),
        ("{a: 1, b: [1, 2,],}", {"a": 1, "b": [1, 2]}),
        ('{"a": "tab\there"}', {"a": "tab\there"}),
        ('{"a": {"b": [1, {"c": "d', {"a": {"b": [1, {"c": "d"}]}}),
        ('{"a": 1, "b', {"a": 1, "b": None}),
        ('{"a": "x", "b": "she said "yes", ok"}', {"a": "x", "b": 'she said "yes", ok'}),
        ('{"path": "C:\\dir"}', {"path": "C:\\dir"}),
    ],
)
def test_json_repair(broken, fixed):
    assert parse_arguments(broken) == fixed


@pytest.mark.parametrize("hopeless", ["not json", "[1, 2]", '"a string"', ""])
def test_arguments_beyond_repair_or_not_an_object_are_refused(hopeless):
    assert parse_arguments(hopeless) is None


SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
        "n": {"type": "integer"},
    },
    "required": ["title"],
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ('{"title": "Hi"}', True),
        ('```json\n{"title": "Hi", "tags": ["a"], "n": 2}\n```', True),
        ('Sure! {"title": "Hi"}', False),
        ('{"tags": ["a"]}', False),
        ('{"title": "Hi", "extra": 1}', False),
        ('{"title": "Hi", "tags": ["c"]}', False),
        ('{"title": "Hi", "n": 1.5}', False),
        ('{"title": ""}', False),
    ],
)
def test_json_mode_checks_the_schema(answer, ok):
    clean, problem = jsonmode.check(answer, SCHEMA)
    assert (clean is not None) is ok and (problem is None) is ok
    if ok:
        assert json.loads(clean)["title"] == "Hi" and not clean.startswith("`")


def test_json_mode_follows_local_refs():
    schema = {
        "$defs": {"T": {"type": "string"}},
        "type": "object",
        "properties": {"x": {"$ref": "#/$defs/T"}},
    }
    assert jsonmode.validate({"x": "s"}, schema) is None
    assert jsonmode.validate({"x": 1}, schema) == "$.x should be of type string"


@pytest.mark.parametrize("cut", range(0, 16))
def test_stop_strings_cut_at_any_split(cut):
    text = "one two STOP three"
    stops = StopFilter(["STOP", "TOPS"])
    out = stops.feed(text[:cut]) + stops.feed(text[cut:]) + stops.finish()
    assert out == "one two " and stops.hit == "STOP"


def shaped(rules, text_pieces, last_chance=False):
    shaper = Shaper(rules, last_chance=last_chance, new_id=lambda: "call_1")
    out = []
    for piece in text_pieces:
        out += shaper.feed(TextDelta(piece))
    return shaper, out + shaper.finish()


TOOLS = (ToolSpec("Write", "Write a file", {"type": "object"}), ToolSpec("Read", "Read a file"))


def test_the_shaper_emits_neutral_call_events_and_tool_use():
    shaper, events = shaped(OutputRules(TOOLS), ["Writing.\n", WRITE])
    assert events == [
        TextDelta("Writing."),
        ToolCallStart(0, "call_1", "Write"),
        ToolCallDelta(0, W.arguments),
    ]
    assert shaper.stop_reason is StopReason.TOOL_USE and shaper.committed


def test_a_truncated_call_ends_with_max_tokens():
    shaper, _ = shaped(OutputRules(TOOLS), ['<tool_use name="Write">\n{"content": "ha'])
    assert shaper.stop_reason is StopReason.MAX_TOKENS


def test_a_required_call_that_is_missing_asks_again_then_gives_up():
    rules = OutputRules(TOOLS, choice="required")
    shaper, _ = shaped(rules, ["I would rather talk."])  # the service holds these back
    assert not shaper.committed and "call block" in shaper.problem()
    shaper, events = shaped(rules, ["Still talking."], last_chance=True)
    assert shaper.committed and events == [TextDelta("Still talking.")]


def test_tool_choice_none_leaves_markup_as_text():
    shaper, events = shaped(OutputRules(TOOLS, choice="none"), [WRITE])
    assert events == [TextDelta(WRITE)] and shaper.stop_reason is StopReason.END_TURN


def test_rules_reject_an_unknown_forced_tool():
    from qwenfree import errors

    conv = Conversation(None, (Message("user", (TextPart("hi"),)),), TOOLS)
    with pytest.raises(errors.InvalidRequest):
        OutputRules.of(conv, GenerationParams(model="m", tool_choice="Delete"))


def conversation_with_history() -> Conversation:
    return Conversation(
        "Be brief.",
        (
            Message("user", (TextPart("save it"),)),
            Message(
                "assistant",
                (TextPart("Saving."), ToolCallPart("toolu_1", "Write", '{"file_path": "/a"}')),
            ),
            Message("tool", (ToolResultPart("toolu_1", "disk full", is_error=True),)),
        ),
        TOOLS,
    )


def test_the_prompt_carries_catalog_history_and_closing_rules():
    text = prompt.build(
        conversation_with_history(), GenerationParams(model="m", tool_choice="Write")
    )
    system = text.split("==== user ====")[0]
    assert "Be brief." in system and '<tool name="Write">' in system
    assert 'Arguments JSON Schema: {"type":"object"}' in system
    assert '<tool_use name="Write" id="toolu_1">\n{"file_path":"/a"}\n</tool_use>' in text
    # the result names its tool (looked up by id) and says it failed
    assert '<tool_result id="toolu_1" name="Write" error="true">\ndisk full\n</tool_result>' in text
    assert text.rstrip().endswith('In this reply you must call the tool "Write".')


def test_long_tool_descriptions_are_shortened_at_a_sentence():
    long = "First sentence. " * 50 + "\n\nDetails " * 100
    tool = ToolSpec("Big", long)
    conv = Conversation(None, (Message("user", (TextPart("x"),)),), (tool,))
    text = prompt.build(conv, GenerationParams(model="m"), description_chars=300)
    assert "First sentence. First sentence. […]" in text and "Details" not in text
    assert long.strip() in prompt.build(conv, GenerationParams(model="m"))


# ------------------------------------------------------------------------------ OpenAI dialect

WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
PARIS = call("get_weather", {"city": "Paris"})


def test_openai_tool_round_trip_non_stream(client, fake):
    fake.enqueue(fu.answer("Checking.\n" + PARIS + "\n"), fu.answer("It is sunny in Paris."))
    first = client.chat.completions.create(
        model=MODEL, messages=user("Weather in Paris?"), tools=WEATHER
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Checking."
    (tool_call,) = choice.message.tool_calls
    assert tool_call.id.startswith("call_") and tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}
    sent = fake.last_completion().json["messages"][0]["content"]
    assert '<tool name="get_weather">' in sent and "Weather in Paris?" in sent

    history = user("Weather in Paris?") + [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": tool_call.id, "content": "22°C, sunny"},
    ]
    second = client.chat.completions.create(model=MODEL, messages=history, tools=WEATHER)
    assert second.choices[0].message.content == "It is sunny in Paris."
    assert second.choices[0].finish_reason == "stop"
    sent = fake.last_completion().json["messages"][0]["content"]
    assert f'<tool_use name="get_weather" id="{tool_call.id}">' in sent
    assert f'<tool_result id="{tool_call.id}" name="get_weather">\n22°C, sunny' in sent


def test_a_continued_chat_gets_only_the_tool_result_and_the_rules(client, fake):
    fake.enqueue(fu.answer(PARIS), fu.answer("Sunny."))
    first = client.chat.completions.create(model=MODEL, messages=user("Paris?"), tools=WEATHER)
    message = first.choices[0].message
    history = user("Paris?") + [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"},
    ]
    client.chat.completions.create(
        model=MODEL, messages=history, tools=WEATHER, extra_body={"conversation_id": first.id}
    )
    one, two = fake.completions()
    assert two.query["chat_id"] == one.query["chat_id"]
    sent = two.json["messages"][0]["content"]
    assert "<tool_result" in sent and "Reminder: to call a tool" in sent
    assert '<tool name="get_weather">' not in sent and "Paris?" not in sent


def test_openai_tool_calls_stream_as_deltas(client, fake):
    text = "Checking.\n" + PARIS + "\n" + call("get_weather", {"city": "Oslo"})
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    fake.enqueue(fu.answer(text, pieces=pieces))
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=user("Paris and Oslo?"), tools=WEATHER, stream=True
        )
    )
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    content = "".join(d.content or "" for d in deltas)
    calls = [tc for d in deltas for tc in d.tool_calls or ()]
    heads = [tc for tc in calls if tc.id]
    assert content == "Checking."
    assert [(h.index, h.type, h.function.name, h.function.arguments) for h in heads] == [
        (0, "function", "get_weather", ""),
        (1, "function", "get_weather", ""),
    ]
    args = {
        i: "".join(tc.function.arguments or "" for tc in calls if tc.index == i) for i in (0, 1)
    }
    assert json.loads(args[0]) == {"city": "Paris"} and json.loads(args[1]) == {"city": "Oslo"}
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["tool_calls"]


def test_required_tool_choice_retries_once_in_the_same_chat(client, fake):
    fake.enqueue(fu.answer("Let me think about the weather."), fu.answer(PARIS))
    done = client.chat.completions.create(
        model=MODEL, messages=user("Paris?"), tools=WEATHER, tool_choice="required"
    )
    assert done.choices[0].finish_reason == "tool_calls"
    assert done.choices[0].message.content is None  # the narration was never sent
    first, second = fake.completions()
    assert second.query["chat_id"] == first.query["chat_id"]
    assert second.json["parent_id"] in fake.chats[first.query["chat_id"]].response_ids()
    assert "a tool call is required now" in second.json["messages"][0]["content"]


def test_required_tool_choice_streams_only_the_second_answer(client, fake):
    fake.enqueue(fu.answer("Narration only."), fu.answer("Fine.\n" + PARIS))
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=user("Paris?"),
            tools=WEATHER,
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            stream=True,
        )
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Fine." and len(fake.completions()) == 2
    sent = fake.completions()[0].json["messages"][0]["content"]
    assert 'you must call the tool "get_weather"' in sent


def test_a_model_that_never_calls_is_delivered_as_is_after_one_retry(client, fake):
    fake.enqueue(fu.answer("No."), fu.answer("Still no."))
    done = client.chat.completions.create(
        model=MODEL, messages=user("Paris?"), tools=WEATHER, tool_choice="required"
    )
    assert done.choices[0].message.content == "Still no."
    assert done.choices[0].finish_reason == "stop" and len(fake.completions()) == 2


def test_parallel_tool_calls_false_keeps_one_call(client, fake):
    fake.enqueue(fu.answer(PARIS + "\n" + call("get_weather", {"city": "Oslo"})))
    done = client.chat.completions.create(
        model=MODEL,
        messages=user("Paris and Oslo?"),
        tools=WEATHER,
        parallel_tool_calls=False,
    )
    assert len(done.choices[0].message.tool_calls) == 1
    assert "at most one tool" in fake.last_completion().json["messages"][0]["content"]


def test_tool_choice_none_sends_no_catalog(client, fake):
    fake.enqueue(fu.answer(PARIS))
    done = client.chat.completions.create(
        model=MODEL, messages=user("Paris?"), tools=WEATHER, tool_choice="none"
    )
    assert done.choices[0].message.content == PARIS and not done.choices[0].message.tool_calls
    sent = fake.last_completion().json["messages"][0]["content"]
    assert '<tool name="get_weather">' not in sent and "Tools are not available" in sent


def test_bad_tool_choice_is_a_400(client, fake):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=MODEL,
            messages=user(),
            tools=WEATHER,
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert info.value.body["param"] == "tool_choice" and fake.completions() == []


def test_a_bad_tool_choice_is_refused_before_a_credential_is_asked_for(gateway, fake):
    choice = {"type": "function", "function": {"name": "nope"}}
    body = {"model": MODEL, "messages": user(), "tools": WEATHER, "tool_choice": choice}
    r = requests.post(gateway.url + "/v1/chat/completions", json=body)  # no credential at all
    assert r.status_code == 400 and r.json()["error"]["param"] == "tool_choice"


def test_tool_descriptions_are_cut_to_the_setting_in_the_prompt_and_the_count(
    start_gateway, settings, fake
):
    import dataclasses

    gateway = start_gateway(dataclasses.replace(settings, tool_description_chars=300))
    long = "First sentence. " * 50 + "\n\nDetails " * 100
    tools = [{"name": "Big", "description": long, "input_schema": {"type": "object"}}]
    body = {"model": MODEL, "max_tokens": 64, "messages": user(), "tools": tools}
    headers = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
    fake.enqueue(fu.answer("ok"))
    done = requests.post(gateway.url + "/v1/messages", json=body, headers=headers)
    counted = requests.post(gateway.url + "/v1/messages/count_tokens", json=body, headers=headers)
    sent = fake.last_completion().json["messages"][0]["content"]
    assert "First sentence. First sentence. […]" in sent and "Details" not in sent
    assert done.status_code == 200
    assert counted.json()["input_tokens"] == tokens.estimate(sent)


def test_response_format_json_schema_strips_fences(client, fake):
    fake.enqueue(fu.answer('```json\n{"title": "Hi"}\n```'))
    done = client.chat.completions.create(
        model=MODEL,
        messages=user("title?"),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "t", "schema": SCHEMA, "strict": True},
        },
    )
    assert json.loads(done.choices[0].message.content) == {"title": "Hi"}
    assert "JSON Schema" in fake.last_completion().json["messages"][0]["content"]


def test_response_format_json_object_asks_again_when_the_model_talks(client, fake):
    fake.enqueue(fu.answer("Here you go: title Hi"), fu.answer('{"title": "Hi"}'))
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=user("title?"),
            response_format={"type": "json_object"},
            stream=True,
        )
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(content) == {"title": "Hi"}
    assert "not valid JSON" in fake.last_completion().json["messages"][0]["content"]


def test_json_the_model_cannot_produce_is_a_clear_502(client, fake):
    fake.enqueue(fu.answer("no json"), fu.answer("still none"))
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(
            model=MODEL, messages=user(), response_format={"type": "json_object"}
        )
    assert info.value.status_code == 502
    assert info.value.body["code"] == "invalid_model_output"
    assert "requested JSON" in info.value.body["message"]


def test_bad_response_format_is_a_400(gateway):
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"messages": user(), "response_format": {"type": "yaml"}},
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "response_format"


# ------------------------------------------------------------------------------ context budget


@pytest.fixture
def small_budget(start_gateway, settings, fake):
    import dataclasses

    fake.max_body = 8 * 1024  # the fake's WAF punishes bodies above what we promise to send
    return start_gateway(dataclasses.replace(settings, max_prompt_kb=8))


@pytest.mark.parametrize("filler", ["x", "巴"])
def test_prompts_within_the_budget_pass_the_upstream_size_limit(small_budget, fake, filler):
    budget = 8 * 1024 - prompt.ENVELOPE_BYTES
    per_char = prompt.wire_size(filler) - 2
    text = filler * ((budget - 2) // per_char)
    assert prompt.wire_size(text) <= budget
    c = openai.OpenAI(base_url=small_budget.url + "/v1", api_key=TOKEN, max_retries=0)
    assert c.chat.completions.create(model=MODEL, messages=user(text)).choices[0]
    assert fake.last_completion().json["messages"][0]["files"] == []
    # Past the budget the message travels as an attached text file (long_prompt.py).
    longer = text + filler * 2
    assert c.chat.completions.create(model=MODEL, messages=user(longer)).choices[0]
    sent = fake.last_completion()
    assert len(sent.body) <= 8 * 1024 and len(fake.completions()) == 2
    (entry,) = sent.json["messages"][0]["files"]
    assert fake.files[entry["id"]].data.decode().endswith(f"user ====\n{longer}\n")


def test_without_the_budget_the_fake_waf_would_punish(start_gateway, settings, fake):
    import dataclasses

    fake.max_body = 8 * 1024
    gateway = start_gateway(dataclasses.replace(settings, max_prompt_kb=0))
    c = openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model=MODEL, messages=user("x" * 9000))
    assert info.value.body["code"] == "upstream_challenged"
