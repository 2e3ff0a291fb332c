"""Fuzzing: schemathesis drives every operation of the app's own /openapi.json over real HTTP (any
5xx fails), and hypothesis feeds the tool-call parser and the request translators arbitrary
input (anything but our own errors fails).

The CI run is short. A longer local run, e.g. 500 examples per operation:

    QWENFREE_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/test_fuzz.py -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
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
from tests.models import MODEL

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
