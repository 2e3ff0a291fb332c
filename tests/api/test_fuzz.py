"""Fuzzing: schemathesis drives every operation of the app's own /openapi.json over real HTTP (any
5xx fails), and hypothesis feeds the tool-call parser and the request translators arbitrary
input (anything but our own errors fails). The last test puts nasty JSON anywhere inside rich
valid bodies of every dialect and sends them to a real gunicorn + gevent worker: no 5xx, and
the worker is neither killed nor restarted (~7 operations x 60 examples, ~5 s).

The CI run is short. A longer local run, e.g. 500 examples per operation:

    QWENFREE_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/api/test_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import base64
import functools
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from qwenfree import create_app, errors
from qwenfree.dialects import registry
from qwenfree.dialects.anthropic.schemas import MessagesSchema
from qwenfree.dialects.gemini.schemas import GenerateContentSchema
from qwenfree.dialects.openai.schemas import ChatCompletionSchema
from qwenfree.settings import Settings
from qwenfree.tools.parser import Call, CallParser
from qwenfree.tools.protocol import CLOSE
from tests.conftest import TOKEN
from tests.fake_upstream import PNG
from tests.support.models import MODEL

EXAMPLES = int(os.environ.get("QWENFREE_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# ------------------------------------------------------------------------------ the HTTP API


def served_spec() -> dict[str, Any]:
    """The document the app serves at /openapi.json (read once, at collection time: the
    operations become test cases; the requests then go to a live gateway over HTTP)."""
    app = create_app(Settings(upstream_url="http://127.0.0.1:9"))
    spec = app.test_client().get("/openapi.json").get_json()
    app.extensions["qwenfree"].close()
    return spec


schema = schemathesis.openapi.from_dict(served_spec())


@schema.parametrize()
@FUZZ
def test_no_input_makes_the_api_fail_with_a_server_error(case, gateway, fake):
    # Every upstream call gets the fake's default answer: a 5xx here is our bug, not theirs.
    response = case.call(
        base_url=gateway.url, headers={"Authorization": "Bearer " + TOKEN}, timeout=30
    )
    case.validate_response(response, checks=[not_a_server_error])


# ------------------------------------------------------------------------------ tool-call parser

MARKERS = [
    '<tool_use name="Write">',
    '<tool_use name="Read" id="x">',
    '<tool_use name="Nope">',
    "<tool_use",
    CLOSE,
    "</tool_",
    "<tool_result>",
    "```",
    "~~~",
    "{",
    "}",
    '"',
    "\\",
    "\n",
    " ",
    '{"file_path": "/tmp/a", "content": "hi"}',
    "text",
    "中文",
]
answers = st.lists(st.sampled_from(MARKERS) | st.text(max_size=6), max_size=30).map("".join)
cuts = st.lists(st.integers(min_value=0, max_value=400), max_size=10)


def parse(chunks: list[str], single: bool) -> list[Any]:
    parser = CallParser(frozenset({"Write", "Read"}), single=single)
    out = [p for c in chunks for p in parser.feed(c)] + parser.finish()
    merged: list[Any] = []
    for piece in out:  # adjacent text pieces are one text; the split is not part of the result
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        elif piece != "":
            merged.append(piece)
    return merged


@settings(max_examples=max(300, EXAMPLES), deadline=None)
@given(text=answers, cut=cuts, single=st.booleans())
def test_the_tool_call_parser_is_total_and_ignores_how_the_answer_was_split(text, cut, single):
    whole = parse([text], single)
    bounds = sorted({0, len(text), *[c % (len(text) + 1) for c in cut]})
    pieces = parse([text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)], single)
    assert pieces == whole
    for call in (p for p in whole if isinstance(p, Call)):
        assert call.name in ("Write", "Read") and isinstance(json.loads(call.arguments), dict)
    if not any(isinstance(p, Call) for p in whole):  # no call: every character comes back
        assert "".join(whole) == text


# ------------------------------------------------------------------------------ translators

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutated(valid: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid body with some fields replaced by arbitrary JSON, some dropped, some added."""
    keys = sorted(valid) + ["tools", "tool_choice", "system", "stop", "metadata", "extra"]
    return st.builds(
        lambda changes, dropped: {
            k: v for k, v in ({**valid, **changes}).items() if k not in dropped
        },
        st.dictionaries(st.sampled_from(keys), json_values, max_size=3),
        st.sets(st.sampled_from(sorted(valid)), max_size=1),
    )


BODIES = {
    "openai": (
        ChatCompletionSchema,
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "anthropic": (
        MessagesSchema,
        {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "gemini": (
        GenerateContentSchema,
        {"model": "gemini-x", "contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    ),
}


@pytest.mark.parametrize("dialect", list(BODIES))
def test_translators_accept_or_refuse_any_body_but_never_crash(dialect):
    schema_class, valid = BODIES[dialect]
    translate = registry()[dialect]

    @settings(max_examples=max(200, EXAMPLES), deadline=None)
    @given(body=mutated(valid))
    def check(body: dict[str, Any]) -> None:
        from marshmallow import ValidationError

        try:
            loaded = schema_class().load(body)
            if dialect == "gemini":
                loaded |= {"model": "gemini-x", "stream": False}
            translate.to_conversation(loaded)
        except (ValidationError, errors.ClientError):
            pass  # a clear 400 in the dialect

    check()


# ------------------------------------------------------------------------------ a live worker

PNG_B64 = base64.b64encode(PNG).decode()
PNG_URI = "data:image/png;base64," + PNG_B64
OBJECT_SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}}
# Rich valid bodies: every feature a mutation can break is present once.
OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "openai chat": (
        "/v1/chat/completions",
        {
            "model": "qwen3-max",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": PNG_URI}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "42"},
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": OBJECT_SCHEMA}}],
            "tool_choice": "auto",
            "response_format": {"type": "json_schema", "json_schema": {"schema": OBJECT_SCHEMA}},
            "stop": ["STOP"],
            "max_tokens": 50,
        },
    ),
    "anthropic messages": (
        "/v1/messages",
        {
            "model": "claude-x",
            "max_tokens": 50,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": PNG_B64,
                            },
                        },
                        {"type": "document", "source": {"type": "text", "data": "a doc"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hm", "signature": "s"},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "content": [{"type": "text", "text": "42"}],
                        }
                    ],
                },
            ],
            "tools": [{"name": "f", "input_schema": OBJECT_SCHEMA}],
            "tool_choice": {"type": "auto"},
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "output_config": {"format": {"type": "json_schema", "schema": OBJECT_SCHEMA}},
        },
    ),
    "gemini generateContent": (
        "/v1beta/models/qwen3-max:generateContent",
        {
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "hi"},
                        {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
                    ],
                },
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
                {
                    "role": "user",
                    "parts": [{"functionResponse": {"name": "f", "response": {"r": 42}}}],
                },
            ],
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
            "generationConfig": {
                "maxOutputTokens": 50,
                "responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}},
                "thinkingConfig": {"thinkingBudget": 0},
            },
        },
    ),
    "images edits": (
        "/v1/images/edits",
        {"prompt": "make it blue", "images": [{"image_url": PNG_URI}], "n": 1, "size": "1024x1024"},
    ),
}
OPERATIONS["anthropic count_tokens"] = (
    "/v1/messages/count_tokens",
    {k: v for k, v in OPERATIONS["anthropic messages"][1].items() if k != "max_tokens"},
)
OPERATIONS["gemini countTokens"] = (
    "/v1beta/models/qwen3-max:countTokens",
    {"generateContentRequest": OPERATIONS["gemini generateContent"][1]},
)
OPERATIONS["images generations"] = (
    "/v1/images/generations",
    {"prompt": "a cat", "n": 1, "size": "1024x1024", "response_format": "url"},
)
KEYS = [
    "type",
    "text",
    "content",
    "source",
    "data",
    "url",
    "image_url",
    "role",
    "name",
    "input",
    "arguments",
    "tool_calls",
    "tool_use_id",
    "parts",
    "functionCall",
    "functionResponse",
    "inlineData",
    "fileData",
    "args",
    "schema",
    "$ref",
    "$defs",
    "anyOf",
    "allOf",
    "items",
    "properties",
    "required",
    "enum",
    "messages",
    "contents",
    "tools",
    "stream",
    "n",
    "images",
    "max_tokens",
    "thinking",
    "budget_tokens",
    "model",
    "media_type",
    "mimeType",
]
nasty_text = st.text(st.characters(codec=None), max_size=8) | st.sampled_from(
    [
        "\ud800",
        "#",
        "#/$defs/x",
        "data:,x",
        "data:image/png;base64,!!",
        "image/png",
        "user",
        "tool_result",
        "text",
        "image",
        "document",
        "content",
        "json_schema",
        "-1",
        "",
    ]
)
nasty_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | nasty_text
nested = st.recursive(
    nasty_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | nasty_text, inner, max_size=4)
    ),
    max_leaves=10,
)
deep = st.builds(
    lambda n, leaf: json.loads("[" * n + json.dumps(leaf) + "]" * n),
    st.integers(40, 990),
    nasty_scalars,
)
nasty = st.one_of(nested, nested, nested, deep)  # deep nesting a quarter of the time


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += paths(item, (*prefix, index))
    return out


def put(body: Any, path: tuple, value: Any, new_key: str | None) -> Any:
    """``body`` with the node at ``path`` replaced (or given a ``new_key`` sibling); unchanged
    when an earlier change already removed the path."""
    if not path:
        return {**body, new_key: value} if new_key is not None and isinstance(body, dict) else value
    head, rest = path[0], path[1:]
    if isinstance(body, dict) and head in body:
        return {**body, head: put(body[head], rest, value, new_key)}
    if isinstance(body, list) and isinstance(head, int) and head < len(body):
        return [*body[:head], put(body[head], rest, value, new_key), *body[head + 1 :]]
    return body


def deep_mutations(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The valid body with one to three nodes, anywhere in it, replaced by nasty JSON (or a
    key added next to them)."""
    one = st.tuples(st.sampled_from(paths(valid)[1:]), nasty, st.none() | st.sampled_from(KEYS))
    return st.lists(one, min_size=1, max_size=3).map(
        lambda changes: functools.reduce(lambda body, c: put(body, *c), changes, valid)
    )


def worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {int(pid) for pid in children}


def fuzz_one(url: str, valid: dict[str, Any], seen: dict[int, int]) -> None:
    @settings(max_examples=max(60, EXAMPLES), deadline=None, database=None)
    @given(body=deep_mutations(valid))
    def check(body: Any) -> None:
        try:
            data = json.dumps(body, allow_nan=True).encode()
        except (ValueError, RecursionError):
            return
        headers = {"Authorization": "Bearer " + TOKEN, "x-goog-api-key": TOKEN}
        response = requests.post(
            url, data=data, headers={**headers, "Content-Type": "application/json"}, timeout=20
        )
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            error = response.json().get("error") or {}
            assert response.status_code == 502 and "requested JSON" in str(error), response.text

    check()


def test_fuzzed_bodies_on_every_dialect_get_no_5xx_and_no_worker_restart(served, fake):
    """Nasty JSON anywhere in rich valid bodies, over HTTP to gunicorn's gevent worker: never a
    5xx, never a worker killed or restarted. The only 5xx allowed is the model's: JSON mode
    asked for a shape the fake's fixed answer does not have (502 invalid_model_output)."""
    url, proc = served.url, served.proc
    fake.default_text = '{"a": 1}'
    before = worker_pids(proc.pid)
    statuses: dict[str, dict[int, int]] = {}
    started = time.monotonic()
    for name, (path, valid) in OPERATIONS.items():
        fuzz_one(url + path, valid, statuses.setdefault(name, {}))
    took = time.monotonic() - started
    print(f"fuzz: {took:.1f} s, statuses {statuses}")
    assert worker_pids(proc.pid) == before, "the worker was restarted"
    output = served.output()
    assert output.count("Booting worker") == 1 and "WORKER TIMEOUT" not in output, output
    assert requests.get(url + "/healthz", timeout=2).ok


WRONG_TYPES = [None, 7, "x", [], {"x": 1}]  # deeper nesting is refused up front (bounds.py)


def test_every_node_of_every_dialect_takes_every_wrong_type_without_a_5xx(served, fake):
    """The systematic half of the fuzz: each node of each rich body in turn replaced by each
    JSON type, one at a time, so every field's type check is reached past the fields before
    it. ~1,500 requests to one gunicorn + gevent worker (~15 s)."""
    url, proc = served.url, served.proc
    fake.default_text = '{"a": 1}'
    before = worker_pids(proc.pid)
    headers = {"Authorization": "Bearer " + TOKEN, "x-goog-api-key": TOKEN}
    failures, sent = [], 0
    with requests.Session() as session:
        for name, (path, valid) in OPERATIONS.items():
            for where in paths(valid)[1:]:
                for wrong in WRONG_TYPES:
                    body = put(valid, where, wrong, None)
                    response = session.post(url + path, json=body, headers=headers, timeout=20)
                    sent += 1
                    if response.status_code >= 500 and "requested JSON" not in response.text:
                        failures.append((name, where, wrong, response.status_code))
    print(f"type sweep: {sent} requests")
    assert not failures, failures[:10]
    assert worker_pids(proc.pid) == before, "the worker was restarted"
