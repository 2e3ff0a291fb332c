"""Server-held accounts over real HTTP against the fake: rotation, cooldowns and recovery,
failures on one account while others serve, exhaustion per dialect, token refresh by sign-in,
and state shared between app instances (two workers on one SQLite file, a restart, Redis)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from qwenfree.upstream.accounts import fingerprint, jwt_exp, parse_accounts
from tests import fake_upstream as fu
from tests.support.accounts import (
    ADMIN,
    NO_REDIS,
    REDIS_SERVER,
    USER,
    USER_KEY,
    Clock,
    chat,
    keyed,
    redis_server,  # noqa: F401 - fixture
    redis_url,  # noqa: F401 - fixture
    signin_reply,
    signins,
    start_redis,
    tokens,
    used_tokens,
    with_clock,
)
from tests.support.models import MODEL

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pool_gateway(start_gateway, settings, tmp_path, clock):
    """``pool_gateway(accounts, **settings)``: a keyed gateway on those accounts."""

    def start(accounts: list[str], **changes):
        s = keyed(settings, tmp_path / "data", accounts=",".join(accounts), **changes)
        return with_clock(start_gateway(s), clock)

    return start


def accounts(gateway) -> dict[str, dict]:
    """The admin API's view, by alias order of configuration."""
    r = requests.get(gateway.url + "/admin/api/accounts", headers=ADMIN)
    assert r.status_code == 200, r.text
    return {a["token"]: a for a in r.json()["accounts"]}


def state_of(gateway, token: str) -> dict:
    return accounts(gateway)["…" + token[-4:]]


def test_requests_rotate_to_the_least_recently_used_account(pool_gateway, fake, clock):
    toks = tokens(3)
    gateway = pool_gateway(toks)
    for _ in range(6):
        clock.now += 1
        assert chat(gateway.url).status_code == 200
    assert used_tokens(fake) == toks + toks


def open_stream(url: str) -> tuple[requests.Response, Iterator[bytes]]:
    """Start a streamed answer and read its first line (its account is leased now); keep the
    line iterator alive, or dropping it closes the connection."""
    r = requests.post(
        url + "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True},
        headers=USER,
        stream=True,
        timeout=10,
    )
    lines = r.iter_lines()
    assert r.status_code == 200 and next(lines)
    return r, lines


def test_the_concurrency_cap_sends_parallel_answers_to_other_accounts(pool_gateway, fake):
    a, b = tokens(2)
    gateway = pool_gateway([a, b], account_concurrency=1)
    fake.enqueue_for(a, fu.infinite(delay=0.05, max_seconds=10))
    held, _lines = open_stream(gateway.url)
    assert state_of(gateway, a)["state"] == "busy" and state_of(gateway, a)["busy"] == 1
    assert chat(gateway.url).status_code == 200
    assert used_tokens(fake) == [a, b]  # B, though A comes first and was used longest ago
    held.close()
    assert fake.wait_until(lambda: fake.active_streams == 0)
    assert fake.wait_until(lambda: state_of(gateway, a)["busy"] == 0)  # the lease came back


def test_all_accounts_busy_is_a_short_429(pool_gateway, fake):
    (a,) = tokens(1)
    gateway = pool_gateway([a], account_concurrency=1, account_wait=0.2)
    fake.enqueue_for(a, fu.infinite(delay=0.05, max_seconds=10))
    held, _lines = open_stream(gateway.url)
    r = chat(gateway.url)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert "busy" in r.json()["error"]["message"]
    held.close()


def test_a_rate_limited_account_cools_while_others_serve_then_recovers(pool_gateway, fake, clock):
    a, b = tokens(2)
    gateway = pool_gateway([a, b])
    fake.enqueue_for(a, fu.rate_limited(4))
    first = chat(gateway.url)
    assert first.status_code == 200  # A was limited; the same request moved on to B
    assert used_tokens(fake) == [a, b]
    benched = state_of(gateway, a)
    assert benched["state"] == "cooling" and 4 * 3600 - 5 <= benched["retry_in"] <= 4 * 3600
    assert benched["cooldowns"][0]["capability"] == "t2t"
    assert benched["cooldowns"][0]["kind"] == "rate_limited"
    for _ in range(3):
        clock.now += 60
        assert chat(gateway.url).status_code == 200
    assert used_tokens(fake).count(a) == 1  # benched: never asked again while cooling
    clock.now += 4 * 3600
    assert state_of(gateway, a)["state"] == "ready"
    assert chat(gateway.url).status_code == 200
    assert used_tokens(fake)[-1] == a  # back, and least recently used


def test_a_rate_limit_benches_only_that_capability(pool_gateway, fake):
    (a,) = tokens(1)
    gateway = pool_gateway([a])
    fake.enqueue_for(a, fu.rate_limited(2))
    assert chat(gateway.url, model=f"{MODEL}-search").status_code == 429
    assert chat(gateway.url).status_code == 200  # plain chat still works on the same account
    assert state_of(gateway, a)["cooldowns"][0]["capability"] == "search"


def test_a_waf_page_benches_the_account_for_minutes_and_is_not_retried(pool_gateway, fake):
    a, b = tokens(2)
    gateway = pool_gateway([a, b])
    fake.enqueue_for(a, fu.waf_json())
    r = chat(gateway.url)
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_challenged"
    assert used_tokens(fake) == [a]  # no storm: B was not tried
    benched = state_of(gateway, a)
    assert benched["state"] == "cooling" and 200 < benched["retry_in"] <= 300
    assert chat(gateway.url).status_code == 200 and used_tokens(fake)[-1] == b


def test_a_rejected_token_without_password_is_dead_and_others_serve(pool_gateway, fake):
    a, b = tokens(2)
    gateway = pool_gateway([a, b])
    fake.enqueue_for(a, fu.http_error(401, b'{"detail":"Could not validate credentials"}'))
    assert chat(gateway.url).status_code == 200
    assert used_tokens(fake) == [a, b]
    dead = state_of(gateway, a)
    assert dead["state"] == "dead" and "rejected the token" in dead["reason"]
    assert dead["retry_in"] is None and dead["failures"] == 1
    assert "token_rejected" in dead["last_error"]
    for _ in range(2):
        assert chat(gateway.url).status_code == 200
    assert used_tokens(fake).count(a) == 1


def test_a_rejected_token_with_a_password_is_renewed_and_retried_once(pool_gateway, fake):
    gateway = pool_gateway(["demo@example.com:demo-password"])
    assert chat(gateway.url).status_code == 200  # the first use signs in
    (token,) = used_tokens(fake)
    fake.enqueue_for(token, fu.http_error(401))
    assert chat(gateway.url).status_code == 200
    # renewed by its refresh token on the 2026-09 site, by signing in again on the legacy one
    assert len(signins(fake)) + fake.refresh_calls == 2
    assert len(fake.completions()) == 3  # 401, then the retry
    (account,) = accounts(gateway).values()  # shown by its refresh token on the 2026-09 site
    assert account["state"] == "ready"


def test_a_wrong_password_is_dead_with_the_reason(pool_gateway, fake):
    gateway = pool_gateway(["demo@example.com:not-the-password"])
    r = chat(gateway.url)
    assert r.status_code == 503 and "sign-in refused" in r.json()["error"]["message"]
    (account,) = accounts(gateway).values()
    assert account["state"] == "dead" and "wrong email or password" in account["reason"]
    assert requests.get(gateway.url + "/readyz").status_code == 503
    assert fake.completions() == []


def test_an_expired_token_is_refreshed_before_use(pool_gateway, fake):
    gateway = pool_gateway(["demo@example.com:demo-password"])
    ops = gateway.state.ops
    (record,) = ops.store.snapshot(time.time()).accounts
    stale = fu.mint_token("demo", exp=int(time.time()) - 60)
    ops.store.set_token(record.id, stale, time.time() - 60)
    assert chat(gateway.url).status_code == 200
    assert stale not in used_tokens(fake)  # signed in first: the expired token never went out
    assert len(signins(fake)) == 1


def test_a_token_near_expiry_is_refreshed_by_sign_in(pool_gateway, fake):
    fake.mode = fu.LEGACY  # v1: 30-day tokens in the body, renewed by signing in again
    soon = fu.mint_token("demo", exp=int(time.time()) + 3600)  # < 24 h left
    fake.enqueue(fu._json(200, {"token": soon}), path="/api/v1/auths/signin")
    gateway = pool_gateway(["demo@example.com:demo-password"])
    assert chat(gateway.url).status_code == 200
    assert used_tokens(fake) == [soon]
    assert chat(gateway.url).status_code == 200
    fresh = used_tokens(fake)[-1]
    assert fresh != soon and state_of(gateway, fresh)["token_expires"] > "2026"
    assert len(signins(fake)) == 2


def test_concurrent_requests_share_one_sign_in(pool_gateway, fake):
    slow, path = signin_reply(fake)
    slow.first_byte_delay = 0.4  # every request arrives while the sign-in is in flight
    fake.enqueue(slow, path=path)
    gateway = pool_gateway(["demo@example.com:demo-password"], account_concurrency=0)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(chat(gateway.url).status_code))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == [200] * 4
    assert len(signins(fake)) == 1


EXHAUSTED = [
    # (path, body, headers, status, error check)
    pytest.param(
        "/v1/chat/completions",
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        USER,
        429,
        lambda b: b["error"]["type"] == "rate_limit_error",
        id="openai-429",
    ),
    pytest.param(
        "/v1/messages",
        {
            "model": "claude-sonnet-4",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}],
        },
        {"x-api-key": USER_KEY, "anthropic-version": "2023-06-01"},
        529,
        lambda b: b["error"]["type"] == "overloaded_error",
        id="anthropic-529",
    ),
    pytest.param(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        {"x-goog-api-key": USER_KEY},
        429,
        lambda b: b["error"]["status"] == "RESOURCE_EXHAUSTED",
        id="gemini-429",
    ),
]


@pytest.mark.parametrize(("path", "body", "headers", "status", "check"), EXHAUSTED)
def test_all_accounts_limited_answers_in_the_dialect_with_the_earliest_recovery(
    pool_gateway, fake, clock, path, body, headers, status, check
):
    a, b = tokens(2)
    gateway = pool_gateway([a, b])
    fake.enqueue_for(a, fu.rate_limited(3))
    fake.enqueue_for(b, fu.rate_limited(2))
    assert chat(gateway.url).status_code == 429  # both tried, both limited
    clock.now += 600
    r = requests.post(gateway.url + path, json=body, headers=headers)
    assert r.status_code == status and check(r.json()), r.text
    assert int(r.headers["Retry-After"]) == 2 * 3600 - 600  # B, the earlier one
    assert len(fake.completions()) == 2  # nobody asked the upstream again


def test_no_usable_account_is_503_and_not_ready(pool_gateway, fake):
    (a,) = tokens(1)
    gateway = pool_gateway([a])
    assert requests.get(gateway.url + "/readyz").json()["status"] == "ready"
    fake.enqueue_for(a, fu.http_error(401))
    r = chat(gateway.url)
    assert r.status_code == 503 and "Retry-After" not in r.headers
    assert "acct-" in r.json()["error"]["message"]  # names the account, never its token
    ready = requests.get(gateway.url + "/readyz")
    assert ready.status_code == 503 and ready.json()["accounts"]["dead"] == 1


def test_a_continued_conversation_goes_back_to_its_account(pool_gateway, fake, clock):
    a, b = tokens(2)
    gateway = pool_gateway([a, b])
    first = chat(gateway.url)
    assert used_tokens(fake) == [a]
    clock.now += 1
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": first.json()["choices"][0]["message"]["content"]},
        {"role": "user", "content": "and then?"},
    ]
    follow = chat(gateway.url, messages=history, conversation_id=first.json()["id"])
    assert follow.status_code == 200
    assert used_tokens(fake) == [a, a]  # B was less recently used, but A holds the chat
    assert fingerprint(a) not in first.json()["id"]  # bound to the key, naming no account


def test_client_token_mode_needs_no_store(gateway, fake, tmp_path):
    assert gateway.state.ops.store is None and gateway.state.ops.pool is None
    assert not (tmp_path / "data").exists()


@pytest.fixture(params=["sqlite", "redis"])
def shared_store(request, tmp_path):
    """Settings for the state every instance shares: one SQLite file, or one Redis."""
    if request.param == "redis":
        return {"store": request.getfixturevalue("redis_url")}
    return {}  # both instances use the same data_dir, so the same SQLite file


def test_two_instances_share_cooldowns_tokens_and_usage(
    start_gateway, settings, tmp_path, fake, shared_store
):
    a, b = tokens(2)
    listed = f"{a},{b},demo@example.com:demo-password"

    def make():
        return start_gateway(keyed(settings, tmp_path / "data", accounts=listed, **shared_store))

    one, two = make(), make()  # two workers (or two hosts) on the same state
    fake.enqueue_for(a, fu.rate_limited(4))
    assert chat(one.url).status_code == 200  # A limited on instance one
    assert state_of(two, a)["state"] == "cooling"  # instance two sees it at once
    for _ in range(4):
        assert chat(two.url).status_code == 200
    assert used_tokens(fake).count(a) == 1
    assert len(signins(fake)) == 1  # the demo account signed in once, for both instances
    keys = requests.get(two.url + "/admin/api/keys", headers=ADMIN).json()["keys"]
    assert keys[0]["requests"] == 5  # usage counted across instances


def test_state_survives_a_restart(start_gateway, settings, tmp_path, fake):
    a, b = tokens(2)
    s = keyed(settings, tmp_path / "data", accounts=f"{a},{b},demo@example.com:demo-password")
    first = start_gateway(s)
    fake.enqueue_for(a, fu.rate_limited(4))
    for _ in range(3):
        assert chat(first.url).status_code == 200
    first.state.close()  # the old process is gone; its file stays
    again = start_gateway(s)
    assert state_of(again, a)["state"] == "cooling"
    assert chat(again.url).status_code == 200
    assert used_tokens(fake).count(a) == 1
    assert len(signins(fake)) == 1  # the refreshed token was kept: no new sign-in


def test_a_lost_redis_is_a_503_in_the_dialect_not_a_crash(start_gateway, settings, tmp_path):
    if REDIS_SERVER is None:
        pytest.skip(NO_REDIS)
    server, url = start_redis()
    try:
        s = keyed(settings, tmp_path / "data", accounts=tokens(1)[0], store=url)
        gateway = start_gateway(s)
        assert chat(gateway.url).status_code == 200
    finally:
        server.terminate()
        server.wait(5)
    r = requests.post(
        gateway.url + "/v1/messages",
        json={
            "model": "claude-sonnet-4",
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "hi"}],
        },
        headers={"x-api-key": USER_KEY},
    )
    assert r.status_code == 503 and r.json()["type"] == "error", r.text
    assert "state store" in r.json()["error"]["message"]


def test_account_lists_read_tokens_and_email_password_pairs():
    text = "tok-aaaa, me@example.com:pa:ss\nyou@example.com:x\n\ntok-aaaa"
    specs = parse_accounts(text)
    assert [(s.email, s.password, s.token) for s in specs] == [
        (None, None, "tok-aaaa"),  # listed twice, counted once
        ("me@example.com", "pa:ss", None),  # the first colon splits
        ("you@example.com", "x", None),
    ]
    from_file = parse_accounts("# team\nme@example.com:with,comma\n", one_per_line=True)
    assert from_file[0].password == "with,comma"
    assert "pa:ss" not in repr(specs) and "tok-aaaa" not in repr(specs)
    with pytest.raises(ValueError, match="neither a token"):
        parse_accounts("not a token")
    with pytest.raises(ValueError, match="empty password"):
        parse_accounts("me@example.com:")


def test_jwt_expiry_is_read_without_checking_the_signature():
    assert jwt_exp(fu.mint_token("u", exp=1_900_000_000)) == 1_900_000_000
    assert jwt_exp("not-a-jwt") is None and jwt_exp("a.%%%.c") is None
    assert jwt_exp("a.eyJleHAiOiJzb29uIn0.c") is None  # {"exp": "soon"}
