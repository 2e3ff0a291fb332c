"""Upstream faults x client dialects x stream/non-stream, through the official SDKs.

Every cell must end in something the client's own SDK understands: the exact answer, or the
SDK's own error class (a real HTTP status before the first byte; an in-band error event after
it). Never a hang, never an empty success. After each fault the upstream connection is closed
(``fake.active_streams`` back to 0) and the gateway still answers a normal request.

tests/api/test_failures.py covers the same ground in depth for OpenAI alone; this file is the
breadth: one table of faults, one table of dialects, every combination.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors

from qwenfree import dialects, errors
from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support import sse
from tests.support.models import MODEL

SDK_TIMEOUT = 20.0
READ_TIMEOUT = 1.0  # the gateway's upstream read timeout here: stalls past it are faults
AFTER = "follow-up-token-0002"  # a fresh token: the faulted one may be cooling down now
HUGE = "0123456789abcdef" * (2 * 1024 * 1024 // 16)  # a 2 MiB answer in one frame


# ------------------------------------------------------------------------------- dialects


@dataclass(frozen=True)
class Client:
    """How one dialect's official SDK asks for an answer, and what it raises."""

    name: str
    error: type[Exception]  # the SDK's base error class
    ask: Callable[[str, str, bool], str]  # (gateway url, token, stream) -> answer text

    def status(self, exc: Exception) -> int | None:
        """The HTTP status an SDK error carries (None for an in-band stream error)."""
        if isinstance(exc, genai_errors.APIError):
            return exc.code
        return getattr(exc, "status_code", None)


def ask_openai(url: str, token: str, stream: bool) -> str:
    c = openai.OpenAI(base_url=url + "/v1", api_key=token, max_retries=0, timeout=SDK_TIMEOUT)
    messages = [{"role": "user", "content": "hi"}]
    if not stream:
        return c.chat.completions.create(model=MODEL, messages=messages).choices[0].message.content
    chunks = c.chat.completions.create(model=MODEL, messages=messages, stream=True)
    return "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)


def ask_anthropic(url: str, token: str, stream: bool) -> str:
    c = anthropic.Anthropic(base_url=url, api_key=token, max_retries=0, timeout=SDK_TIMEOUT)
    args: dict[str, Any] = {
        "model": "claude-opus-4-8",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    }
    if not stream:
        return "".join(b.text for b in c.messages.create(**args).content if b.type == "text")
    with c.messages.stream(**args) as s:
        return "".join(s.text_stream)


def ask_gemini(url: str, token: str, stream: bool) -> str:
    options = {"base_url": url, "timeout": int(SDK_TIMEOUT * 1000)}
    c = genai.Client(api_key=token, http_options=options)  # closes its connections when freed
    if not stream:
        return c.models.generate_content(model="gemini-2.5-flash", contents="hi").text or ""
    chunks = c.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
    return "".join(ch.text or "" for ch in chunks)


CLIENTS = [
    Client("openai", openai.APIError, ask_openai),
    Client("anthropic", anthropic.APIError, ask_anthropic),
    Client("gemini", genai_errors.APIError, ask_gemini),
]


# ------------------------------------------------------------------------------- faults


def head(pieces: list[str]) -> list[Any]:
    """The created frame and one answer frame per piece: an answer cut short after them."""
    return list(fu.drop_after(pieces).steps)[:-1]


def garbage_first() -> fu.Script:
    return fu.Script([fu.Raw(b"data: {this is not json\n\n")])


def garbage_after() -> fu.Script:
    return fu.Script([*head(["Hel", "lo"]), fu.Raw(b"data: {this is not json\n\n")])


def truncated_frame() -> fu.Script:
    """Half a frame, then the body ends cleanly (a proxy that gave up): not a reset."""
    return fu.Script([*head(["Hel", "lo"]), fu.Raw(b'data: {"choices":[{"delta":{"conte')])


def status_without_body(status: int) -> Callable[[], fu.Script]:
    return lambda: fu.http_error(status)


@dataclass(frozen=True)
class Fault:
    """An upstream misbehaviour and what the caller must see.

    ``answer``: the exact text the SDK returns. Otherwise ``error`` is the neutral error whose
    dialect status every client sees; with ``after_first_byte`` a stream has already sent
    "Hello" when the fault hits, so streams end with an in-band error instead.
    """

    script: Callable[[], fu.Script] | None
    error: type[errors.QwenfreeError] | None = None
    answer: str | None = None
    after_first_byte: bool = False


FAULTS = {
    "connect-refused": Fault(None, errors.UpstreamUnavailable),
    "slow-first-byte": Fault(lambda: fu.slow_first_byte(READ_TIMEOUT * 3), errors.UpstreamTimeout),
    "stall-mid-stream": Fault(
        lambda: fu.stall_after(["Hel", "lo"], READ_TIMEOUT * 5, ["!"]),
        errors.UpstreamTimeout,
        after_first_byte=True,
    ),
    "reset-before-content": Fault(lambda: fu.drop_after([]), errors.UpstreamUnavailable),
    "reset-mid-frame": Fault(
        lambda: fu.drop_after(["Hel", "lo"], partial=True),
        errors.UpstreamUnavailable,
        after_first_byte=True,
    ),
    "garbage-first-frame": Fault(garbage_first, errors.UpstreamProtocolError),
    "garbage-mid-stream": Fault(garbage_after, errors.UpstreamProtocolError, after_first_byte=True),
    "truncated-frame": Fault(truncated_frame, errors.UpstreamProtocolError, after_first_byte=True),
    "error-frame-mid-stream": Fault(
        lambda: fu.in_stream_error("internal_error", "boom", after=["Hel", "lo"]),
        errors.UpstreamUnavailable,
        after_first_byte=True,
    ),
    "huge-frame-2MiB": Fault(lambda: fu.answer(HUGE, pieces=[HUGE]), answer=HUGE),
    "interleaved-candidates": Fault(
        lambda: fu.dual_candidates("巴黎 is Paris."), answer="巴黎 is Paris."
    ),
    "http-500-body": Fault(
        lambda: fu.http_error(500, b"<h1>oops</h1>", "text/html"), errors.UpstreamUnavailable
    ),
    "http-500-empty": Fault(status_without_body(500), errors.UpstreamUnavailable),
    "http-503-empty": Fault(status_without_body(503), errors.UpstreamUnavailable),
    # pass-through: the caller's own credential was refused -> the caller's 401
    "http-401-body": Fault(
        lambda: fu.http_error(401, b'{"detail":"Could not validate credentials"}'),
        errors.CredentialRejected,
    ),
    "http-401-empty": Fault(status_without_body(401), errors.CredentialRejected),
    "http-403-body": Fault(
        lambda: fu.http_error(403, b'{"detail":"Forbidden"}'), errors.CredentialRejected
    ),
    "http-403-empty": Fault(status_without_body(403), errors.CredentialRejected),
    "http-429-body": Fault(
        lambda: fu.http_error(429, b'{"detail":"slow down"}', headers={"Retry-After": "7"}),
        errors.UpstreamRateLimited,
    ),
    "http-429-empty": Fault(status_without_body(429), errors.UpstreamRateLimited),
    "waf-html-200": Fault(lambda: fu.waf_html(), errors.UpstreamChallenged),
    "waf-html-403": Fault(lambda: fu.waf_html(403), errors.UpstreamChallenged),
    "waf-json": Fault(fu.waf_json, errors.UpstreamChallenged),
    "rate-limited-json": Fault(lambda: fu.rate_limited(2), errors.UpstreamRateLimited),
    "empty-stream": Fault(lambda: fu.empty_stream(), errors.UpstreamEmpty),
    "empty-body": Fault(lambda: fu.empty_stream(created=False), errors.UpstreamEmpty),
}


def expected_status(client: Client, error: type[errors.QwenfreeError]) -> int:
    """The status this dialect gives the neutral error (its own table decides, e.g. 529)."""
    status, _ = dialects.registry()[client.name].encode_error(error("x"))
    return status


# ------------------------------------------------------------------------------- fixtures


class Relay:
    """A loopback port that refuses connections until ``open()``, then forwards to ``target``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._sockets: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self._sockets.append(listener)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        for s in self._sockets:
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                near, _ = listener.accept()
            except OSError:
                return
            far = socket.create_connection(self.target)
            self._sockets += [near, far]
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@pytest.fixture
def relay(fake) -> Iterator[Relay]:
    host, port = fake.url.removeprefix("http://").split(":")
    r = Relay((host, int(port)))
    yield r
    r.close()


@pytest.fixture
def matrix_gateway(start_gateway, settings):
    """The gateway with a short upstream read timeout, so stalls become faults quickly."""
    return start_gateway(dataclasses.replace(settings, read_timeout=READ_TIMEOUT))


# ------------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize("client", CLIENTS, ids=[c.name for c in CLIENTS])
@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_fault_ends_well_formed_and_the_gateway_keeps_serving(
    request, fake, start_gateway, settings, client, fault_name, stream
):
    fault = FAULTS[fault_name]
    if fault.script is None:  # nothing listens upstream until the relay opens
        relay = request.getfixturevalue("relay")
        settings = dataclasses.replace(settings, upstream_url=relay.url)
        reopen = relay.open
    else:
        fake.enqueue(fault.script())
        reopen = None
    gateway = start_gateway(dataclasses.replace(settings, read_timeout=READ_TIMEOUT))

    check_outcome(client, fault, gateway.url, stream)

    assert fake.wait_until(lambda: fake.active_streams == 0), "an upstream stream was left open"
    if reopen is not None:
        reopen()
    assert client.ask(gateway.url, AFTER, stream) == fu.DEFAULT_TEXT


def check_outcome(client: Client, fault: Fault, url: str, stream: bool) -> None:
    if fault.answer is not None:
        assert client.ask(url, TOKEN, stream) == fault.answer
        return
    assert fault.error is not None
    with pytest.raises(client.error) as info:
        got = client.ask(url, TOKEN, stream)
        pytest.fail(f"an error was expected, the SDK returned {got[:80]!r}")
    if not (stream and fault.after_first_byte):
        assert client.status(info.value) == expected_status(client, fault.error), str(info.value)
    # else in-band: the stream's HTTP status was already 200; the SDK raising is the point


# ------------------------------------------------------------------------------- raw wire

MID_STREAM = [name for name, f in FAULTS.items() if f.after_first_byte]


def stream_request(client: str, url: str) -> requests.Response:
    """One streamed request on the wire, in the dialect's own shape."""
    if client == "openai":
        path, body, headers = "/v1/chat/completions", {"messages": [], "stream": True}, {}
        body["messages"] = [{"role": "user", "content": "hi"}]
        headers = {"Authorization": "Bearer " + TOKEN}
    elif client == "anthropic":
        path = "/v1/messages"
        body = {"model": "claude-x", "max_tokens": 9, "stream": True, "messages": []}
        body["messages"] = [{"role": "user", "content": "hi"}]
        headers = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
    else:
        path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        headers = {"x-goog-api-key": TOKEN}
    return requests.post(url + path, json=body, headers=headers, timeout=SDK_TIMEOUT)


# What the last message of a failed stream looks like, and the normal ends it must not have.
TERMINALS: dict[
    str, tuple[Callable[[str | None, Any], bool], Callable[[str | None, str], bool]]
] = {
    "openai": (
        lambda name, data: "error" in data and data["error"]["message"],
        lambda name, data: data == "[DONE]",
    ),
    "anthropic": (
        lambda name, data: name == "error" and data["error"]["type"] and data["type"] == "error",
        lambda name, data: name == "message_stop",
    ),
    "gemini": (
        lambda name, data: set(data) == {"error"} and data["error"]["code"] >= 500,
        lambda name, data: '"finishReason"' in data,
    ),
}


@pytest.mark.parametrize("client", [c.name for c in CLIENTS])
@pytest.mark.parametrize("fault_name", MID_STREAM)
def test_a_stream_cut_by_a_fault_ends_with_the_dialects_error_event(
    fake, matrix_gateway, client, fault_name
):
    fake.enqueue(FAULTS[fault_name].script())
    r = stream_request(client, matrix_gateway.url)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    blocks = [(m.event, m.data) for m in sse.messages(r)]
    is_error, is_normal_end = TERMINALS[client]
    name, data = blocks[-1]
    assert is_error(name, json.loads(data)), blocks[-1]
    assert not any(is_normal_end(n, d) for n, d in blocks), blocks
    assert fake.wait_until(lambda: fake.active_streams == 0)


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize("client", CLIENTS, ids=[c.name for c in CLIENTS])
def test_an_answer_cut_at_a_frame_boundary_is_an_error_not_a_short_success(
    fake, matrix_gateway, client, stream
):
    fake.enqueue(fu.Script(head(["Hel", "lo"])))  # no 'finished' frame, then a clean end
    with pytest.raises(client.error):
        client.ask(matrix_gateway.url, TOKEN, stream)
