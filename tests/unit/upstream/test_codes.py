"""The error-code tables of both sites (qwen.CODES / qwen.DETAILS, tongyi.CODES), one test per
row: the function that reads them, and the same failure through the fake over real HTTP, where
the caller must get the error of that row in its dialect (pass-through mode, so a refused
credential is the caller's 401)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import requests

from qwenfree import dialects, errors
from qwenfree.upstream import qwen, tongyi
from tests import fake_tongyi as ft
from tests import fake_upstream as fu
from tests.conftest import TOKEN, user

TICKET = "tongyi-sso-ticket-0001"
UNKNOWN = "Some_New_Code"


def seen_as(cls: type[errors.QwenfreeError]) -> tuple[int, dict]:
    """The status and OpenAI error body a caller gets for an upstream error of ``cls``."""
    refused = issubclass(cls, errors.UpstreamTokenRejected)
    err = (errors.CredentialRejected if refused else cls)("x")
    status, body = dialects.registry()["openai"].encode_error(err)
    return status, {k: body["error"][k] for k in ("type", "code")}


def ask(url: str, key: str) -> tuple[int, dict]:
    r = requests.post(
        url + "/v1/chat/completions",
        json={"model": "auto", "messages": user()},
        headers={"Authorization": "Bearer " + key},
        timeout=15,
    )
    return r.status_code, {k: r.json()["error"][k] for k in ("type", "code")}


# ----------------------------------------------------------------------------- chat.qwen.ai


@pytest.mark.parametrize(("code", "cls"), list(qwen.CODES.items()))
def test_each_qwen_code_is_its_class(code, cls):
    assert type(qwen.coded_error(code, "")) is cls
    envelope = {"success": False, "data": {"code": code, "details": ""}}
    assert type(qwen.business_error(envelope)) is cls
    assert type(qwen.business_error({"error": {"code": code, "details": ""}})) is cls


@pytest.mark.parametrize(("code", "cls"), list(qwen.CODES.items()))
def test_each_qwen_code_reaches_the_caller_as_its_error(fake, gateway, code, cls):
    fake.enqueue(fu.business_error(code, "something went wrong"))
    assert ask(gateway.url, TOKEN) == seen_as(cls)


def detail_cases() -> Iterator[object]:
    for on, words, cls in qwen.DETAILS:
        codes = sorted(qwen.GENERAL_CODES | {UNKNOWN}) if on == "*" else [on]
        for code in codes:
            yield pytest.param(code, f"Well: {words.upper()} here", cls, id=f"{code}-{words}")


@pytest.mark.parametrize(("code", "details", "cls"), list(detail_cases()))
def test_each_details_row_decides_beside_a_general_or_unknown_code(code, details, cls):
    assert type(qwen.coded_error(code, details)) is cls


@pytest.mark.parametrize(("on", "words", "cls"), qwen.DETAILS, ids=lambda v: str(v))
def test_each_details_row_reaches_the_caller_as_its_error(fake, gateway, on, words, cls):
    fake.enqueue(fu.business_error("internal_error" if on == "*" else on, words))
    assert ask(gateway.url, TOKEN) == seen_as(cls)


def test_a_specific_code_wins_over_its_details():
    assert type(qwen.coded_error("Not_Found", "quota of chats")) is errors.ChatNotFound
    assert type(qwen.coded_error("data_inspection_failed", "invalid token?")) is (
        errors.ContentFiltered
    )


def test_general_and_unknown_codes_without_telling_details():
    assert type(qwen.coded_error("Bad_Request", "Invalid input")) is errors.UpstreamRejected
    assert type(qwen.coded_error("internal_error", "boom")) is errors.UpstreamUnavailable
    unknown = qwen.coded_error(UNKNOWN, "boom")
    assert type(unknown) is errors.UpstreamUnknownCode and UNKNOWN in unknown.message
    assert type(qwen.coded_error("", "")) is errors.UpstreamUnavailable


def test_a_daily_quota_waits_the_hours_the_site_names():
    assert qwen.coded_error("RateLimited", "upper limit", 4).retry_after == 4 * 3600
    assert qwen.coded_error("internal_error", "Allocated quota exceeded").retry_after is None


# ----------------------------------------------------------------------------- Tongyi


@pytest.fixture(scope="module")
def tongyi_site() -> Iterator[ft.FakeTongyi]:
    fake = ft.FakeTongyi().start()
    yield fake
    fake.stop()


@pytest.fixture
def tongyi_gateway(tongyi_site, start_gateway, settings):
    tongyi_site.reset()
    s = dataclasses.replace(settings, tongyi_tickets=True, tongyi_url=tongyi_site.url)
    return start_gateway(s)


@pytest.mark.parametrize(("code", "cls"), list(tongyi.CODES.items()))
def test_each_tongyi_code_is_its_class(code, cls):
    assert type(tongyi.coded_error(code, "")) is cls
    envelope = {"success": False, "errorCode": code, "errorMsg": ""}
    assert type(tongyi.business_error(envelope)) is cls


@pytest.mark.parametrize(("code", "cls"), list(tongyi.CODES.items()))
def test_each_tongyi_code_reaches_the_caller_as_its_error(tongyi_site, tongyi_gateway, code, cls):
    tongyi_site.enqueue(ft.failure(code, "something went wrong"), path=ft.CONVERSATION)
    assert ask(tongyi_gateway.url, TICKET) == seen_as(cls)


@pytest.mark.parametrize(
    "code", ["TOKEN_LIMIT_EXCEEDED", "LOGIN_LIMIT", "not_login", "AUTH_QUOTA", UNKNOWN]
)
def test_a_tongyi_code_not_in_the_table_is_unknown_not_a_refused_ticket(code):
    """A substring test once read TOKEN_LIMIT… as a refused ticket and benched it."""
    assert type(tongyi.coded_error(code, "")) is errors.UpstreamUnknownCode


def test_a_token_limit_code_leaves_the_ticket_usable(tongyi_site, tongyi_gateway):
    tongyi_site.enqueue(ft.failure("TOKEN_LIMIT_EXCEEDED", "x"), path=ft.CONVERSATION)
    assert ask(tongyi_gateway.url, TICKET)[0] == 502
    tongyi_site.enqueue(ft.answer("still here"), path=ft.CONVERSATION)
    r = requests.post(
        tongyi_gateway.url + "/v1/chat/completions",
        json={"model": "auto", "messages": user()},
        headers={"Authorization": "Bearer " + TICKET},
        timeout=15,
    )
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "still here"
