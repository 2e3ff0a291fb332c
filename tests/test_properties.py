"""Property tests: the SSE decoder and the frame parser under arbitrary chunking and input."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from qwenfree import errors
from qwenfree.events import TextDelta
from qwenfree.sse import SSEDecoder, SSEMessage, encode
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
