"""The SSE decoder and encoder, with golden transcripts split at every byte offset."""

import pytest

from qwenfree.sse import SSEDecoder, SSEMessage, encode
from qwenfree.upstream.qwen import FrameParser
from tests.support.recorded import GOLDEN


def decode(*chunks: bytes) -> list[SSEMessage]:
    decoder = SSEDecoder()
    out = [m for c in chunks for m in decoder.feed(c)]
    return out + decoder.finish()


def events(messages):
    parser = FrameParser()
    return [e for m in messages for e in parser.parse(m.data)]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_split_point_gives_the_same_events(newline):
    raw = GOLDEN.replace(b"\n", newline)
    whole = decode(raw)
    assert len(whole) == 10
    for cut in range(len(raw) + 1):
        assert decode(raw[:cut], raw[cut:]) == whole, cut


def test_byte_by_byte_equals_whole():
    raw = GOLDEN.replace(b"\n", b"\r\n")
    assert decode(*(raw[i : i + 1] for i in range(len(raw)))) == decode(raw)


def test_split_crlf_is_one_line_end_not_an_event_boundary():
    # "data: a\r" + "\ndata: b\n\n": a CRLF split across chunks must not end the event early.
    assert decode(b"data: a\r", b"\ndata: b\n\n") == [SSEMessage(data="a\nb")]


def test_comments_event_names_and_unterminated_last_event():
    got = decode(b": hi\nevent: x\ndata: 1\n\nid: 3\nretry: 5\ndata:2")
    assert got == [SSEMessage(data="1", event="x"), SSEMessage(data="2")]


def test_multibyte_characters_split_across_chunks_survive():
    raw = 'data: {"t":"巴黎🌍"}\n\n'.encode()
    for cut in range(len(raw)):
        assert decode(raw[:cut], raw[cut:])[0].data == '{"t":"巴黎🌍"}'


def test_encode_writes_event_data_and_comments():
    assert encode(SSEMessage(data={"a": "é"})) == 'data: {"a":"é"}\n\n'.encode()
    assert encode(SSEMessage(data="[DONE]")) == b"data: [DONE]\n\n"
    assert encode(SSEMessage(data={"t": 1}, event="ping")) == b'event: ping\ndata: {"t":1}\n\n'
    assert encode(SSEMessage(comment="ping")) == b": ping\n\n"
    assert encode(SSEMessage(data="a\nb")) == b"data: a\ndata: b\n\n"


def test_golden_transcript_events_identical_at_every_split():
    whole = events(decode(GOLDEN))
    for cut in range(0, len(GOLDEN) + 1, 7):
        assert events(decode(GOLDEN[:cut], GOLDEN[cut:])) == whole


@pytest.mark.parametrize(
    "text", ["", "plain", 'quote " and \\ backslash', "line\nbreak\r\t", "中文 😀", "\x00\x1f"]
)
def test_a_template_fills_byte_for_byte_what_dumps_gives(text):
    from qwenfree.sse import HOLE, Template, dumps

    def shape(value):
        return {"id": "x", "choices": [{"delta": {"content": value}, "finish_reason": None}]}

    assert Template(shape(HOLE)).fill(text) == dumps(shape(text))
