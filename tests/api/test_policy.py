"""The failure-policy table (qwenfree/upstream/policy.py), one row at a time, over real HTTP
against the fake, in both routers: pass-through (the caller's credentials) and server-held
accounts. Each row's fault hits credential A, and the test watches what the gateway does with A
afterwards: does the same request move on to B, is A avoided while B serves, and, with A alone,
does a request of the same or of another capability still reach the site, and what is answered
when it does not."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests

from qwenfree import errors
from qwenfree.upstream import policy
from tests import fake_upstream as fu
from tests.fake_upstream import mint_token
from tests.support.accounts import ADMIN, USER, Clock, chat, keyed, with_clock
from tests.support.models import MODEL

pytestmark = pytest.mark.timeout(60)
PASS_THROUGH, ACCOUNTS = "pass-through", "accounts"
OTHER = f"{MODEL}-search"  # another capability (chat type) than a plain chat


@dataclass(frozen=True)
class Row:
    """A fault of one row's class and what must follow it, in both routers."""

    script: Callable[[], fu.Script]
    retried: bool  # the same request moved on to B
    rotation: int  # of the next four requests with A and B, how many went to A
    other: int | tuple[int, int]  # A alone, another capability: 200 (asked) or the answer
    again: int | tuple[int, int]  # A alone, the same capability; (pass-through, accounts)
    wait: float | None = None  # the Retry-After of a refused ``again``


def garbage() -> fu.Script:
    return fu.Script([fu.Raw(b"data: {this is not json\n\n")])


ROWS: dict[type[errors.QwenfreeError], Row] = {
    # a daily quota: this capability only, for the hours the site names
    errors.UpstreamRateLimited: Row(lambda: fu.rate_limited(2), True, 0, 200, 429, 2 * 3600),
    # a punish page: the whole credential, minutes, and never retried elsewhere
    errors.UpstreamChallenged: Row(fu.waf_json, False, 0, 429, 429, 300),
    # refused: the caller hears 401 (their key is wrong); key mode's account is dead (503)
    errors.UpstreamTokenRejected: Row(lambda: fu.http_error(401), True, 0, (401, 503), (401, 503)),
    # a 5xx: tried last while B serves, still tried alone
    errors.UpstreamUnavailable: Row(lambda: fu.http_error(500), True, 0, 200, 200),
    # an unreadable frame: nobody is benched
    errors.UpstreamProtocolError: Row(garbage, False, 2, 200, 200),
    # the request's own fault (here: input the site refuses): nobody is benched
    errors.QwenfreeError: Row(
        lambda: fu.business_error("Bad_Request", "Invalid input too many messages"),
        False,
        2,
        200,
        200,
    ),
}


@dataclass
class Route:
    """One router's gateway on some credentials."""

    mode: str
    url: str
    creds: list[str]
    clock: Clock

    def ask(self, model: str = MODEL) -> requests.Response:
        self.clock.now += 1  # accounts: least recently used first, so time must move
        if self.mode == ACCOUNTS:
            return chat(self.url, USER, model=model)
        return chat(self.url, {"Authorization": "Bearer " + ",".join(self.creds)}, model=model)


@pytest.fixture(params=[PASS_THROUGH, ACCOUNTS])
def route(request, start_gateway, settings, tmp_path) -> Callable[[list[str]], Route]:
    """``route(creds)``: a fresh gateway of this router on ``creds`` (state of its own)."""
    stores = itertools.count()

    def start(creds: list[str]) -> Route:
        clock = Clock()
        if request.param == PASS_THROUGH:
            return Route(PASS_THROUGH, start_gateway(settings).url, creds, clock)
        s = keyed(settings, tmp_path / f"store-{next(stores)}", accounts=",".join(creds))
        return Route(ACCOUNTS, with_clock(start_gateway(s), clock).url, creds, clock)

    return start


def pick(status: int | tuple[int, int], mode: str) -> int:
    return status if isinstance(status, int) else status[mode == ACCOUNTS]


def sent(fake) -> list[str]:
    return [c.headers["authorization"].removeprefix("Bearer ") for c in fake.completions()]


def test_every_row_of_the_table_has_a_case():
    assert set(ROWS) == set(policy.RULES)


@pytest.mark.parametrize("cls", list(ROWS), ids=lambda c: c.__name__)
def test_a_fault_moves_on_or_stops_then_the_credential_is_avoided_as_the_row_says(fake, route, cls):
    row = ROWS[cls]
    a, b = mint_token("user-a"), mint_token("user-b")
    gateway = route([a, b])
    fake.enqueue_for(a, row.script())
    first = gateway.ask()
    assert sent(fake) == ([a, b] if row.retried else [a])
    assert (first.status_code == 200) == row.retried, first.text
    before = len(sent(fake))
    for _ in range(4):
        assert gateway.ask().status_code == 200
    assert sent(fake)[before:].count(a) == row.rotation


@pytest.mark.parametrize("cls", list(ROWS), ids=lambda c: c.__name__)
def test_alone_the_credential_is_asked_again_or_refused_as_the_row_says(fake, route, cls):
    row = ROWS[cls]
    a = mint_token("user-a")
    gateway = route([a])
    fake.enqueue_for(a, row.script())
    assert gateway.ask().status_code != 200
    for model, want in ((OTHER, row.other), (MODEL, row.again)):
        asked = len(fake.completions())
        r = gateway.ask(model)
        assert r.status_code == pick(want, gateway.mode), (model, r.text)
        assert len(fake.completions()) == asked + (r.status_code == 200), model
    if row.wait is not None:
        assert row.wait - 60 <= float(r.headers["Retry-After"]) <= row.wait


def test_a_refused_refresh_token_is_refreshed_and_tried_once_more(fake, route):
    rt = fake.issue_refresh_token()
    gateway = route(["refresh_token=" + rt])
    assert gateway.ask().status_code == 200
    refreshes, asked = fake.refresh_calls, len(fake.completions())
    fake.enqueue(fu.http_error(401))
    assert gateway.ask().status_code == 200
    assert fake.refresh_calls == refreshes + 1 and len(fake.completions()) == asked + 2


def test_rows_are_found_by_the_most_specific_class():
    assert policy.rule(errors.UpstreamTimeout("x")) is policy.RULES[errors.UpstreamUnavailable]
    assert policy.rule(errors.UpstreamChallenged("x")).kind == "challenged"
    assert policy.rule(errors.CredentialRevoked("x")).refused
    assert policy.rule(errors.ContentFiltered("x")).scope == policy.NOBODY


# --------------------------------------------------------------- renewing an account's token


@dataclass(frozen=True)
class Renewal:
    """A failure of the refresh or sign-in endpoint and the account state it must leave."""

    script: Callable[[], fu.Script] | None  # None: the session is revoked (refresh only)
    state: str  # the admin page's state after the failed request
    kind: str  # the cooldown it shows
    retry_in: float | None = None  # seconds, when the bench ends by itself


REFRESH_ROWS: dict[type[errors.QwenfreeError], Renewal] = {
    errors.CredentialRevoked: Renewal(None, "dead", "dead"),
    errors.UpstreamChallenged: Renewal(fu.waf_json, "cooling", "challenged", 300),
    errors.QwenfreeError: Renewal(lambda: fu.http_error(500), "failing", "failing", 30),
}
SIGN_IN_ROWS: dict[type[errors.QwenfreeError], Renewal] = {
    errors.UpstreamChallenged: Renewal(fu.waf_html, "cooling", "challenged", 300),
    errors.UpstreamRejected: Renewal(
        lambda: fu.business_error("Bad_Request", "Incorrect password"), "dead", "dead"
    ),
    errors.UpstreamTokenRejected: Renewal(lambda: fu.http_error(401), "dead", "dead"),
    errors.QwenfreeError: Renewal(lambda: fu.http_error(500), "cooling", "signin_failed", 30),
}


def test_every_renewal_row_has_a_case():
    assert set(REFRESH_ROWS) == set(policy.REFRESH)
    assert set(SIGN_IN_ROWS) == set(policy.SIGN_IN)


def account_after(fake, start_gateway, settings, tmp_path, account: str) -> dict:
    """Ask once through a keyed gateway on ``account``; the admin API's view of it after."""
    clock = Clock()
    gateway = with_clock(
        start_gateway(keyed(settings, tmp_path / "store", accounts=account)), clock
    )
    assert chat(gateway.url).status_code in (429, 503)
    assert fake.completions() == []
    r = requests.get(gateway.url + "/admin/api/accounts", headers=ADMIN)
    (seen,) = r.json()["accounts"]
    return seen


def check(seen: dict, row: Renewal) -> None:
    assert (seen["state"], [c["kind"] for c in seen["cooldowns"]]) == (row.state, [row.kind])
    assert seen["cooldowns"][0]["capability"] == "*"
    if row.retry_in is not None and row.state == "cooling":
        assert row.retry_in - 5 <= seen["retry_in"] <= row.retry_in


@pytest.mark.parametrize("cls", list(REFRESH_ROWS), ids=lambda c: c.__name__)
def test_a_failed_refresh_benches_the_account_as_the_row_says(
    fake, start_gateway, settings, tmp_path, cls
):
    row = REFRESH_ROWS[cls]
    rt = fake.issue_refresh_token()
    if row.script is None:
        fake.revoke(rt)
    else:
        fake.enqueue(row.script(), path="/api/v2/auths/refresh")
    check(account_after(fake, start_gateway, settings, tmp_path, "refresh_token=" + rt), row)


@pytest.mark.parametrize("cls", list(SIGN_IN_ROWS), ids=lambda c: c.__name__)
def test_a_failed_sign_in_benches_the_account_as_the_row_says(
    fake, start_gateway, settings, tmp_path, cls
):
    row = SIGN_IN_ROWS[cls]
    fake.enqueue(row.script(), path="/api/v2/auths/signin")
    check(account_after(fake, start_gateway, settings, tmp_path, "demo@example.com:pw"), row)


def test_an_unknown_code_is_named_and_benches_nobody(fake, route):
    """A code no table knows may be one caller's odd request: it is not retried on another
    credential, the next requests still reach the same one, and the caller reads the code."""
    a, b = mint_token("user-a"), mint_token("user-b")
    gateway = route([a, b])
    fake.enqueue_for(a, fu.business_error("Some_New_Code", "something new"))
    first = gateway.ask()
    assert first.status_code == 502 and "Some_New_Code" in first.text, first.text
    assert "make doctor" in first.text
    assert sent(fake) == [a]
    for _ in range(4):
        assert gateway.ask().status_code == 200
    assert sent(fake)[1:].count(a) == 2
