"""Tongyi protocol: cumulative snapshots become deltas that never repeat; failures are errors."""

from __future__ import annotations

import json

import pytest

from qwenfree import errors
from qwenfree.events import ImageOutput, ReasoningDelta, TextDelta
from qwenfree.upstream import tongyi
from tests import fake_tongyi as ft


def snapshot(text, status="generating", **extra):
    return json.dumps(ft._snapshot(text, status, **extra))


def test_cumulative_snapshots_emit_only_the_new_suffix():
    parser = tongyi.TongyiParser()
    frames = [
        snapshot("Hel"),
        "[heartbeat]",
        snapshot("Hello"),
        snapshot("Hello"),
        snapshot("Hell"),
        snapshot("Hello 巴黎", "finished", errorCode=""),
        "[DONE]",
    ]
    events = [e for f in frames for e in parser.parse(f)]
    assert events == [TextDelta("Hel"), TextDelta("lo"), TextDelta(" 巴黎")]
    assert parser.answered


def test_thinking_parts_are_cumulative_too():
    parser = tongyi.TongyiParser()
    events = parser.parse(snapshot("", think="Let me")) + parser.parse(
        snapshot("Hi", think="Let me see")
    )
    assert events == [ReasoningDelta("Let me"), ReasoningDelta(" see"), TextDelta("Hi")]


def test_ids_are_kept_for_continuation():
    parser = tongyi.TongyiParser()
    parser.parse(json.dumps({"sessionId": "S1", "msgId": "M1"} | ft._snapshot("x")))
    assert (parser.session_id, parser.msg_id, parser.response_id) == ("S1", "M1", "M1")


@pytest.mark.parametrize(
    ("frame", "cls"),
    [
        (snapshot("x", "finished", canShare=False), errors.ContentFiltered),
        (snapshot("x", "finished", errorCode="SYSTEM_ERROR"), errors.UpstreamUnavailable),
        (
            json.dumps({"success": False, "errorCode": "NOT_LOGIN", "errorMsg": "x"}),
            errors.UpstreamTokenRejected,
        ),
        (
            json.dumps({"success": False, "errorCode": "REQUEST_LIMIT", "errorMsg": "x"}),
            errors.UpstreamRateLimited,
        ),
        ("{garbage", errors.UpstreamProtocolError),
        (json.dumps({"contents": 5}), errors.UpstreamProtocolError),
    ],
)
def test_failures_become_typed_errors(frame, cls):
    with pytest.raises(cls):
        tongyi.TongyiParser().parse(frame)


def test_drawing_urls_keep_their_query_and_are_not_repeated():
    parser = tongyi.TongyiParser()
    url = "https://wanx.example/img.png?Expires=1&Signature=x"
    frame = {
        "contentType": "text2image",
        "contents": [{"contentType": "text2image", "content": url}],
    }
    assert parser.parse(json.dumps(frame)) + parser.parse(json.dumps(frame)) == [ImageOutput(url)]


def test_credentials_route_by_shape():
    assert not tongyi.is_ticket("eyJhbGciOiJIUzI1NiJ9.eyJpZCI6IjEifQ.sig")
    assert tongyi.is_ticket("a1b2c3-sso-ticket")
    assert tongyi.cookie("t" * 120).startswith("login_aliyunid_ticket=")
    assert tongyi.cookie("short").startswith("tongyi_sso_ticket=short;")
