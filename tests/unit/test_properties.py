"""Property tests: the SSE decoder and the frame parser under arbitrary chunking and input;
the bounded-parsing count and the JSON-mode schema checks under arbitrary input."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from qwenfree import bounds, errors
from qwenfree.events import TextDelta
from qwenfree.sse import SSEDecoder, SSEMessage, encode
from qwenfree.tools import jsonmode
from qwenfree.upstream.qwen import FrameParser

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
payloads = st.lists(
    st.builds(lambda t: SSEMessage(data={"t": t}), texts)
    | st.builds(
        lambda t, e: SSEMessage(data={"t": t}, event=e), texts, st.sampled_from(["a", "ping"])
    ),
    max_size=8,
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@settings(max_examples=300, deadline=None)
@given(
    payloads, st.lists(st.integers(min_value=0), max_size=12), st.sampled_from(["\n", "\r\n", "\r"])
)
def test_encode_then_decode_round_trips_at_any_chunking(messages, cuts, newline):
    wire = b"".join(encode(m) for m in messages).replace(b"\n", newline.encode())
    decoder = SSEDecoder()
    out = [m for c in chunked(wire, cuts) for m in decoder.feed(c)] + decoder.finish()
    assert [(json.loads(m.data), m.event) for m in out] == [(m.data, m.event) for m in messages]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=8))
def test_decoder_never_crashes_and_ignores_chunking(garbage, cuts):
    whole = SSEDecoder()
    expected = whole.feed(garbage) + whole.finish()
    pieces = SSEDecoder()
    got = [m for c in chunked(garbage, cuts) for m in pieces.feed(c)] + pieces.finish()
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parser_raises_only_our_errors(payload):
    try:
        FrameParser().parse(payload)
    except errors.QwenfreeError:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
keys = st.sampled_from(
    [
        "choices",
        "delta",
        "content",
        "phase",
        "extra",
        "usage",
        "response_id",
        "response.created",
        "error",
        "success",
        "data",
        "summary_thought",
        "web_search_info",
        "ret",
        "input_tokens",
        "output_image_hw",
    ]
)
frames = st.recursive(
    json_values,
    lambda inner: st.dictionaries(keys, inner, max_size=4) | st.lists(inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(keys, frames, max_size=5))
def test_reshaped_frames_are_protocol_errors_never_crashes(frame):
    try:
        events = FrameParser().parse(json.dumps(frame))
    except errors.QwenfreeError:
        return
    assert all(not hasattr(e, "text") or isinstance(e.text, str) for e in events)


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, max_size=10))
def test_answer_pieces_concatenate_exactly(pieces):
    parser = FrameParser()
    out = []
    for piece in pieces:
        frame = {"choices": [{"delta": {"content": piece, "phase": "answer"}}], "response_id": "R"}
        out += parser.parse(json.dumps(frame))
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "".join(pieces)


# ------------------------------------------------------------------------------ bounded parsing

tricky_text = st.text(alphabet=st.sampled_from(list(',[]{}"\\: ab\n\u00e9')), max_size=12)
bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(tricky_text, inner, max_size=5),
    max_leaves=40,
)


def exact_values(value) -> int:
    children = value.values() if isinstance(value, dict) else value
    if not isinstance(value, dict | list):
        return 1
    return 1 + sum(exact_values(c) for c in children)


@settings(max_examples=500, deadline=None)
@given(bodies, st.integers(min_value=1, max_value=60))
def test_the_raw_count_never_refuses_a_body_within_the_limit(body, limit):
    """Commas, brackets, quotes and backslashes inside strings never count as values: the
    pre-parse count refuses a body only when the parsed body really has too many values."""
    raw = json.dumps(body).encode()
    limits = bounds.Limits(depth=1000, values=limit, items=1000)
    try:
        bounds.check_raw(raw, limits)
    except errors.PayloadTooLarge:
        assert exact_values(body) > limit
    try:
        bounds.check(body, limits)
    except errors.PayloadTooLarge:
        assert exact_values(body) > limit
    else:
        assert exact_values(body) <= limit


schema_keys = st.sampled_from(
    ["$ref", "anyOf", "allOf", "oneOf", "items", "properties", "additionalProperties", "type"]
)
refs = st.sampled_from(["#", "#/$defs/a", "#/$defs/b", "#/$defs/c", "#/nope", "x"])
schemas = st.recursive(
    st.builds(dict) | st.builds(lambda r: {"$ref": r}, refs) | st.just({"type": "string"}),
    lambda inner: st.dictionaries(
        schema_keys,
        inner | st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xyz"), inner),
        max_size=3,
    ),
    max_leaves=15,
)


@settings(max_examples=500, deadline=None)
@given(schemas, st.dictionaries(st.sampled_from("abc"), schemas, max_size=3), bodies)
def test_json_mode_schemas_are_refused_or_checked_within_bounds(schema, defs, value):
    """Any schema, however its $refs loop or branch: check_schema refuses it with a 400 or
    validate finishes (each within its budget) without a RecursionError."""
    root = {**schema, "$defs": defs} if isinstance(schema, dict) else schema
    try:
        jsonmode.check_schema(root)
    except errors.InvalidRequest:
        return
    problem = jsonmode.validate(value, root)
    assert problem is None or isinstance(problem, str)
