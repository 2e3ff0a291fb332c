"""chat.qwen.ai frame parsing: candidates, cumulative thinking, usage, in-band errors."""

import json

import pytest

from qwenfree import errors
from qwenfree.events import Citations, ImageOutput, ReasoningDelta, TextDelta, Usage
from qwenfree.sse import SSEDecoder
from qwenfree.upstream import qwen
from tests.support.recorded import GOLDEN


def parse_all(frames):
    parser = FrameParser()
    return parser, [
        e for f in frames for e in parser.parse(f if isinstance(f, str) else json.dumps(f))
    ]


FrameParser = qwen.FrameParser


def delta(phase, content="", rid="R1", **extra):
    d = {"role": "assistant", "content": content, "phase": phase, "status": "typing"}
    if extra:
        d["extra"] = extra
    return {"choices": [{"delta": d}], "response_id": rid}


def test_golden_stream_locks_to_first_candidate_and_emits_thinking_suffixes():
    decoder = SSEDecoder()
    messages = decoder.feed(GOLDEN) + decoder.finish()
    parser, evs = parse_all([m.data for m in messages])
    text = "".join(e.text for e in evs if isinstance(e, TextDelta))
    thought = "".join(e.text for e in evs if isinstance(e, ReasoningDelta))
    assert text == "巴黎 🌍 café"  # the other candidate's "巴" is dropped
    assert thought == "Greet the user\n\nBe brief — ok"
    assert parser.response_id == "R1"
    assert parser.usage == Usage(10, 6, 2)
    assert parser.answered


def test_cumulative_summary_emits_only_new_text_even_when_items_grow():
    frames = [
        delta("thinking_summary", summary_thought={"content": ["A"]}),
        delta("thinking_summary", summary_thought={"content": ["AB"]}),
        delta("thinking_summary", summary_thought={"content": ["AB", ""]}),
        delta("thinking_summary", summary_thought={"content": ["AB", "C"]}),
        delta("thinking_summary", summary_thought={"content": ["AB", "CD", "E"]}),
    ]
    _, evs = parse_all(frames)
    assert [e.text for e in evs] == ["A", "B", "\n\n", "C", "D\n\nE"]


def test_legacy_think_phase_is_incremental_reasoning():
    _, evs = parse_all([delta("think", "a"), delta("think", "b"), delta("answer", "c")])
    assert evs == [ReasoningDelta("a"), ReasoningDelta("b"), TextDelta("c")]


def test_search_and_image_frames():
    search = {
        "choices": [
            {
                "delta": {
                    "role": "function",
                    "name": "web_search",
                    "phase": "web_search",
                    "content": "",
                    "status": "finished",
                    "extra": {"web_search_info": [{"url": "https://a.example", "title": "A"}]},
                }
            }
        ]
    }
    url = "https://cdn.example/out.png?key=abc.def"
    _, evs = parse_all([search, delta("image_gen", url, output_image_hw=[[768, 1024]])])
    assert isinstance(evs[0], Citations) and evs[0].sources[0].url == "https://a.example"
    assert evs[1] == ImageOutput(url, 1024, 768)


def test_heartbeats_done_and_unknown_phases_are_ignored():
    _, evs = parse_all(["[heartbeat]", "[DONE]", "", json.dumps(delta("bash", "x"))])
    assert evs == []


def test_objects_on_consecutive_data_lines_are_split():
    joined = json.dumps(delta("answer", "a")) + "\n" + json.dumps(delta("answer", "b"))
    _, evs = parse_all([joined])
    assert evs == [TextDelta("a"), TextDelta("b")]


def test_garbage_frame_is_a_protocol_error():
    with pytest.raises(errors.UpstreamProtocolError):
        parse_all(["{not json"])


@pytest.mark.parametrize(
    ("frame", "cls", "retry_after"),
    [
        (
            {"success": False, "data": {"code": "RateLimited", "details": "upper limit", "num": 4}},
            errors.UpstreamRateLimited,
            4 * 3600,
        ),
        (
            {"success": False, "data": {"code": "Bad_Request", "details": "Internal error"}},
            errors.UpstreamUnavailable,
            None,
        ),
        (
            {"success": False, "data": {"code": "Bad_Request", "details": "too many messages"}},
            errors.UpstreamRejected,
            None,
        ),
        (
            {"success": False, "data": {"code": "Not_Found", "details": "gone"}},
            errors.ChatNotFound,
            None,
        ),
        ({"success": False, "data": {"code": "PARENT_NOT_FOUND"}}, errors.ChatNotFound, None),
        (
            {"error": {"code": "internal_error", "details": "Allocated quota exceeded"}},
            errors.UpstreamRateLimited,
            None,
        ),
        (
            {"error": {"code": "data_inspection_failed", "details": "x"}},
            errors.ContentFiltered,
            None,
        ),
        (
            {"error": {"code": "internal_error", "details": "boom"}},
            errors.UpstreamUnavailable,
            None,
        ),
        (
            {"ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM"], "data": {"url": "x"}},
            errors.UpstreamChallenged,
            None,
        ),
    ],
)
def test_in_band_errors_become_typed_errors(frame, cls, retry_after):
    with pytest.raises(cls) as info:
        parse_all([frame])
    assert type(info.value) is cls
    assert info.value.retry_after == retry_after


@pytest.mark.parametrize("marker", qwen.CHALLENGE_MARKERS)
def test_every_challenge_marker_is_recognised_in_a_page(marker):
    assert isinstance(qwen.page_error(f"<html>{marker}</html>"), errors.UpstreamChallenged)


def test_an_ordinary_page_is_unavailable_not_challenge():
    err = qwen.page_error("<html>maintenance</html>")
    assert type(err) is errors.UpstreamUnavailable
