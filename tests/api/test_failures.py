"""Every upstream failure and quirk from the reference, seen through the openai SDK.

Before the first byte a failure is a real HTTP status (the SDK raises its class for it); after
it, the stream ends with an in-band error event and no [DONE]. Never an empty 200.
"""

from __future__ import annotations

import dataclasses
import time

import openai
import pytest
import requests

from tests import fake_upstream as fu
from tests.conftest import TOKEN, user
from tests.support.models import MODEL

BEFORE_FIRST_BYTE = [
    # (script, SDK exception, status)
    pytest.param(lambda: fu.rate_limited(4), openai.RateLimitError, 429, id="RateLimited-json-200"),
    pytest.param(
        lambda: fu.http_error(429, headers={"Retry-After": "7"}),
        openai.RateLimitError,
        429,
        id="http-429",
    ),
    pytest.param(
        lambda: fu.business_error("Bad_Request", "Internal error"),
        openai.InternalServerError,
        502,
        id="Bad_Request-internal",
    ),
    pytest.param(
        lambda: fu.business_error("Bad_Request", "Invalid input too many messages"),
        openai.BadRequestError,
        400,
        id="Bad_Request-validation",
    ),
    pytest.param(lambda: fu.waf_json(), openai.InternalServerError, 502, id="waf-json"),
    pytest.param(lambda: fu.waf_html(), openai.InternalServerError, 502, id="waf-html-200"),
    pytest.param(lambda: fu.waf_html(403), openai.InternalServerError, 502, id="waf-html-403"),
    pytest.param(
        lambda: fu.http_error(401, b'{"detail":"Could not validate credentials"}'),
        openai.AuthenticationError,  # pass-through: the caller's own credential was refused
        401,
        id="http-401",
    ),
    pytest.param(
        lambda: fu.http_error(500, b"oops", "text/plain"),
        openai.InternalServerError,
        502,
        id="http-500",
    ),
    pytest.param(lambda: fu.empty_stream(), openai.InternalServerError, 502, id="empty-stream"),
    pytest.param(
        lambda: fu.empty_stream(created=False), openai.InternalServerError, 502, id="empty-body"
    ),
    pytest.param(
        lambda: fu.in_stream_error("internal_error"),
        openai.RateLimitError,
        429,
        id="in-stream-quota",
    ),
    pytest.param(
        lambda: fu.in_stream_error("data_inspection_failed"),
        openai.BadRequestError,
        400,
        id="in-stream-moderation",
    ),
    pytest.param(
        lambda: fu.in_stream_error("internal_error", "boom"),
        openai.InternalServerError,
        502,
        id="in-stream-internal",
    ),
    pytest.param(
        lambda: fu.drop_after([]), openai.InternalServerError, 502, id="drop-before-content"
    ),
]


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize(("script", "exc", "status"), BEFORE_FIRST_BYTE)
def test_failures_before_the_first_byte_have_real_statuses(
    client, fake, script, exc, status, stream
):
    fake.enqueue(script())
    with pytest.raises(exc) as info:
        result = client.chat.completions.create(model=MODEL, messages=user(), stream=stream)
        list(result) if stream else None
    assert info.value.status_code == status
    assert info.value.body["message"]


def test_rate_limit_carries_retry_after_from_the_upstream_hours(gateway, fake):
    fake.enqueue(fu.rate_limited(4))
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"messages": user()},
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert r.status_code == 429 and r.headers["Retry-After"] == str(4 * 3600)
    assert r.json()["error"]["type"] == "rate_limit_error"
    again = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"messages": user()},
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert again.status_code == 429  # the token is benched: the upstream is not asked again
    assert 0 < int(again.headers["Retry-After"]) <= 4 * 3600
    assert len(fake.completions()) == 1


AFTER_FIRST_BYTE = [
    pytest.param(
        lambda: fu.in_stream_error("internal_error", "boom", after=["Hel", "lo"]), id="error-frame"
    ),
    pytest.param(lambda: fu.drop_after(["Hel", "lo"]), id="connection-drop"),
    pytest.param(lambda: fu.drop_after(["Hel", "lo"], partial=True), id="drop-mid-frame"),
    pytest.param(lambda: fu.stall_after(["Hel", "lo"], 5.0, ["!"]), id="stall-past-read-timeout"),
]


@pytest.mark.parametrize("script", AFTER_FIRST_BYTE)
def test_failures_after_the_first_byte_end_the_stream_with_an_error_event(client, fake, script):
    fake.enqueue(script())
    seen = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model=MODEL, messages=user(), stream=True):
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "Hello"
    assert info.value.message
    assert fake.wait_until(lambda: fake.active_streams == 0)


@pytest.mark.parametrize("script", AFTER_FIRST_BYTE)
def test_the_same_failures_without_streaming_are_real_errors(client, fake, script):
    fake.enqueue(script())
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=MODEL, messages=user())
    assert info.value.status_code >= 500


def test_stream_after_error_has_no_done(gateway, fake):
    fake.enqueue(fu.in_stream_error("internal_error", "boom", after=["x"]))
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"messages": user(), "stream": True},
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert r.status_code == 200
    assert '"error"' in r.text.strip().split("\n\n")[-1]
    assert "[DONE]" not in r.text


def test_thinking_then_nothing_is_an_error_not_an_empty_answer(client, fake):
    fake.enqueue(fu.thinking_only())
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=f"{MODEL}-thinking", messages=user())
    assert info.value.status_code == 502
    fake.enqueue(fu.thinking_only())
    with pytest.raises(openai.APIError):
        list(
            client.chat.completions.create(model=f"{MODEL}-thinking", messages=user(), stream=True)
        )


def test_slow_first_byte_past_the_read_timeout_is_504(start_gateway, settings, fake):
    gateway = start_gateway(dataclasses.replace(settings, read_timeout=0.3))
    fake.enqueue(fu.slow_first_byte(2.0))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=MODEL, messages=user())
    assert info.value.status_code == 504


def test_unreachable_upstream_is_502(start_gateway, settings):
    gateway = start_gateway(dataclasses.replace(settings, upstream_url="http://127.0.0.1:9"))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=MODEL, messages=user())
    assert info.value.status_code == 502


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(lambda: fu.dual_candidates("巴黎 is Paris."), id="dual-candidates"),
        pytest.param(lambda: fu.with_heartbeats("巴黎 is Paris."), id="heartbeats"),
        pytest.param(lambda: fu.answer("巴黎 is Paris.", crlf=True), id="crlf"),
        pytest.param(lambda: fu.split_utf8("巴黎 is Paris."), id="split-utf8"),
        pytest.param(lambda: fu.split_utf8("巴黎 is Paris.", crlf=True), id="split-utf8-crlf"),
        pytest.param(lambda: fu.answer("巴黎 is Paris.", framing="close"), id="close-delimited"),
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
def test_stream_quirks_yield_the_exact_answer(client, fake, script, stream):
    fake.enqueue(script())
    if stream:
        text = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model=MODEL, messages=user(), stream=True)
        )
    else:
        text = (
            client.chat.completions.create(model=MODEL, messages=user()).choices[0].message.content
        )
    assert text == "巴黎 is Paris."


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_first_event_arrives_before_the_upstream_finishes(gateway, fake, framing):
    script = fu.infinite(delay=0.05, max_seconds=3.0)
    script.framing = framing
    fake.enqueue(script)
    started = time.monotonic()
    with requests.post(
        gateway.url + "/v1/chat/completions",
        stream=True,
        json={"messages": user(), "stream": True},
        headers={"Authorization": "Bearer " + TOKEN},
    ) as r:
        first = next(r.iter_lines())
        assert first.startswith(b"data: ")
        assert fake.finished_streams == 0 and fake.active_streams == 1
    # closing early is a client disconnect: the upstream stream must be closed too
    assert fake.wait_until(lambda: fake.disconnects == 1 and fake.active_streams == 0, timeout=3)
    assert time.monotonic() - started < 3.0


def test_a_failing_token_is_skipped_for_the_next_one(client, fake):
    fake.enqueue(fu.rate_limited(1), fu.answer("from the second token"))
    rotating = openai.OpenAI(base_url=client.base_url, api_key="tok-aaaa1,tok-bbbb2", max_retries=0)
    done = rotating.chat.completions.create(model=MODEL, messages=user())
    assert done.choices[0].message.content == "from the second token"
    first, second = (c.headers["authorization"] for c in fake.completions())
    assert first != second
    rotating.chat.completions.create(model=MODEL, messages=user())
    assert fake.completions()[-1].headers["authorization"] == second  # the limited one is benched


def test_a_rejected_token_falls_over_to_the_next(client, fake):
    rotating = openai.OpenAI(
        base_url=client.base_url, api_key="bad-token-1,good-token-2", max_retries=0
    )
    for _ in range(2):
        assert (
            rotating.chat.completions.create(model=MODEL, messages=user())
            .choices[0]
            .message.content
        )


def test_waf_is_not_retried_on_another_token(client, fake):
    fake.enqueue(fu.waf_json(), fu.answer("should not be used"))
    rotating = openai.OpenAI(base_url=client.base_url, api_key="tok-aaaa1,tok-bbbb2", max_retries=0)
    with pytest.raises(openai.InternalServerError):
        rotating.chat.completions.create(model=MODEL, messages=user())
    assert len(fake.completions()) == 1


def test_tokens_never_reach_the_logs(client, fake, capfd):
    secret = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6InNlY3JldCJ9.c2lnbmF0dXJlLXNlY3JldA"
    fake.enqueue(fu.http_error(401))
    leaky = openai.OpenAI(base_url=client.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        leaky.chat.completions.create(model=MODEL, messages=user())
    out, err = capfd.readouterr()
    assert "token_rejected" in err and secret not in err + out and "c2lnbmF0dXJl" not in err + out
