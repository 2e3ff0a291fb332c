"""The same SDK scenarios over both backends: chat.qwen.ai with a JWT, Tongyi with a ticket.

Each backend case brings its fake, a credential, and script builders with one meaning:
``answer(text)`` and ``fail(kind)``. The tests never know which site they talk to.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
import requests
from google import genai
from google.genai import errors as genai_errors

from qwenfree.settings import Settings
from tests import fake_tongyi as ft
from tests import fake_upstream as fu
from tests.conftest import Gateway
from tests.support.models import MODEL
from tests.support.waiting import wait_until

JWT = fu.mint_token()
TICKET = "tongyi-sso-ticket-0001"


@dataclasses.dataclass
class Backend:
    name: str
    gateway: Gateway
    token: str
    answer: Callable[[str], Any]  # queue one answer
    fail: Callable[[str], None]  # queue one failure: rate_limited | rejected | filtered
    prompts: Callable[[], list[str]]  # the prompts the upstream received, in order
    deleted: Callable[[], list[str]]  # chats or sessions the gateway deleted


@pytest.fixture(scope="session")
def tongyi_server() -> Iterator[ft.FakeTongyi]:
    fake = ft.FakeTongyi().start()
    yield fake
    fake.stop()


def _qwen(fake: fu.FakeUpstream, gateway: Gateway) -> Backend:
    failures = {
        "rate_limited": lambda: fu.rate_limited(2),
        "rejected": lambda: fu.http_error(401),
        "filtered": lambda: fu.in_stream_error("data_inspection_failed"),
    }
    return Backend(
        "qwen",
        gateway,
        JWT,
        answer=lambda text: fake.enqueue(fu.answer(text)),
        fail=lambda kind: fake.enqueue(failures[kind]()),
        prompts=lambda: [r.json["messages"][0]["content"] for r in fake.completions()],
        deleted=lambda: fake.deleted_chats,
    )


def _tongyi(fake: ft.FakeTongyi, gateway: Gateway) -> Backend:
    failures = {
        "rate_limited": lambda: ft.failure("REQUEST_LIMIT", "too many requests"),
        "rejected": lambda: ft.failure("NOT_LOGIN", "please log in"),
        "filtered": lambda: ft.moderated(""),
    }
    return Backend(
        "tongyi",
        gateway,
        TICKET,
        answer=lambda text: fake.enqueue(ft.answer(text), path=ft.CONVERSATION),
        fail=lambda kind: fake.enqueue(failures[kind](), path=ft.CONVERSATION),
        prompts=lambda: [r.json["contents"][0]["content"] for r in fake.conversations()],
        deleted=lambda: fake.deleted_sessions,
    )


@pytest.fixture(params=["qwen", "tongyi"])
def backend(request, fake, tongyi_server, start_gateway, settings: Settings) -> Backend:
    tongyi_server.reset()
    configured = dataclasses.replace(settings, tongyi_tickets=True, tongyi_url=tongyi_server.url)
    gateway = start_gateway(configured)
    if request.param == "qwen":
        return _qwen(fake, gateway)
    return _tongyi(tongyi_server, gateway)


def oai(b: Backend) -> openai.OpenAI:
    return openai.OpenAI(base_url=b.gateway.url + "/v1", api_key=b.token, max_retries=0)


def test_openai_non_stream_and_stream(backend):
    backend.answer("巴黎 is Paris.")
    done = oai(backend).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "hi"}]
    )
    assert done.choices[0].message.content == "巴黎 is Paris."
    backend.answer("Streamed, exactly.")
    chunks = oai(backend).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "Streamed, exactly."
    )


def test_answers_carry_usage_on_both_sites(backend):
    """Tongyi reports no token counts: the gateway estimates them (LobeChat and Dify read it)."""
    backend.answer("An answer of some length, to be counted.")
    done = oai(backend).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "count me"}]
    )
    assert done.usage is not None and done.usage.prompt_tokens > 0
    assert done.usage.completion_tokens > 0
    backend.answer("Streamed and counted.")
    chunks = list(
        oai(backend).chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0


def test_continuation_sends_only_the_new_turn(backend):
    first = oai(backend).chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "one"}]
    )
    history = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "two"},
    ]
    oai(backend).chat.completions.create(
        model="auto", messages=history, extra_body={"conversation_id": first.id}
    )
    assert backend.prompts()[-1] == "two"


@pytest.mark.parametrize(
    ("kind", "exc", "status"),
    [
        ("rate_limited", openai.RateLimitError, 429),
        # pass-through: the caller's own credential was refused, so it is the caller's 401
        ("rejected", openai.AuthenticationError, 401),
        ("filtered", openai.BadRequestError, 400),
    ],
)
def test_upstream_failures_have_the_same_statuses(backend, kind, exc, status):
    backend.fail(kind)
    with pytest.raises(exc) as info:
        oai(backend).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == status


def test_anthropic_messages(backend):
    backend.answer("Hello from either site.")
    client = anthropic.Anthropic(base_url=backend.gateway.url, api_key=backend.token, max_retries=0)
    with client.messages.stream(
        model="claude-opus-4-1-20250805",
        max_tokens=100,
        messages=[{"role": "user", "content": "hi"}],
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "Hello from either site."


def test_gemini_generate_content(backend):
    backend.answer("Gemini hears you.")
    client = genai.Client(api_key=backend.token, http_options={"base_url": backend.gateway.url})
    reply = client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert reply.text == "Gemini hears you."
    backend.fail("rate_limited")
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert info.value.code == 429


def test_tool_round_trip_through_the_shared_engine(backend):
    call = '<tool_use name="get_weather">\n{"city": "Paris"}\n</tool_use>'
    backend.answer(call)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    done = oai(backend).chat.completions.create(
        model="auto", tools=tools, messages=[{"role": "user", "content": "weather in Paris?"}]
    )
    tool_call = done.choices[0].message.tool_calls[0]
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}
    backend.answer("Sunny.")
    history = [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [tool_call.model_dump()]},
        {"role": "tool", "tool_call_id": tool_call.id, "content": "sunny, 21C"},
    ]
    final = oai(backend).chat.completions.create(model="auto", tools=tools, messages=history)
    assert final.choices[0].message.content == "Sunny."
    assert "sunny, 21C" in backend.prompts()[-1]


def test_token_check_answers_for_both_kinds(backend):
    url = backend.gateway.url + "/token/check"
    assert requests.post(url, json={"token": backend.token}).json()["live"] is True
    assert requests.post(url, json={"token": "bad-" + backend.token}).json()["live"] is False


def test_sessions_are_deleted_after_the_ttl(backend, start_gateway, settings, tongyi_server):
    configured = dataclasses.replace(
        settings, tongyi_tickets=True, tongyi_url=tongyi_server.url, chat_ttl=0
    )
    gateway = start_gateway(configured)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=backend.token, max_retries=0)
    client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
    assert wait_until(lambda: len(backend.deleted()) == 1)


def test_a_mixed_list_falls_over_between_sites(fake, tongyi_server, start_gateway, settings):
    tongyi_server.reset()
    gateway = start_gateway(
        dataclasses.replace(settings, tongyi_tickets=True, tongyi_url=tongyi_server.url)
    )
    fake.enqueue(fu.rate_limited(1))
    tongyi_server.enqueue(ft.answer("from Tongyi"), path=ft.CONVERSATION)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=f"{JWT},{TICKET}", max_retries=0)
    done = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "hi"}]
    )
    assert done.choices[0].message.content == "from Tongyi"
    assert len(fake.completions()) == 1 and len(tongyi_server.conversations()) == 1


def test_tickets_go_to_tongyi_only_when_enabled(fake, tongyi_server, start_gateway, settings):
    tongyi_server.reset()
    off = start_gateway(dataclasses.replace(settings, tongyi_url=tongyi_server.url))
    openai.OpenAI(base_url=off.url + "/v1", api_key=TICKET, max_retries=0).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert len(fake.completions()) == 1 and tongyi_server.conversations() == []
