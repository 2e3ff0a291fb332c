"""The state stores, each test run against SQLite and against a real redis-server."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from qwenfree.store import FOREVER, AccountRecord, Cooldown, open_store
from tests.support.accounts import redis_server, redis_url  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "redis"])
def url(request, tmp_path) -> str:
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    return f"sqlite:///{tmp_path / 'state' / 'qwenfree.db'}"


@pytest.fixture
def store(url, tmp_path):
    s = open_store(url, str(tmp_path))
    yield s
    s.close()


@pytest.fixture
def other(url, tmp_path):
    """A second handle on the same state: another worker process, or another host."""
    s = open_store(url, str(tmp_path))
    yield s
    s.close()


def account(account_id: str, token: str | None = "tok", **changes) -> AccountRecord:
    base = dict(
        id=account_id,
        email=None,
        password=None,
        token=token,
        token_exp=None,
        source="env",
        added_at=NOW,
    )
    return AccountRecord(**(base | changes))


def test_accounts_sync_keeps_refreshed_tokens_and_drops_unlisted_ones(store, other):
    store.sync_accounts(
        [account("a"), account("b", token=None, email="b@x.io", password="p")], "env"
    )
    store.set_token("b", "fresh-token", NOW + 100)
    store.put_account(account("c", source="admin"))
    other.sync_accounts([account("b", token=None, email="b@x.io", password="new")], "env")
    found = {a.id: a for a in store.snapshot(NOW).accounts}
    assert sorted(found) == ["b", "c"]  # "a" left the env list; the admin's "c" stays
    assert found["b"].token == "fresh-token" and found["b"].token_exp == NOW + 100
    assert found["b"].password == "new"


def test_cooldowns_expire_and_clear_by_kind(store, other):
    store.sync_accounts([account("a")], "env")
    store.cool(Cooldown("a", "t2t", NOW + 60, "rate_limited", "quota"), NOW)
    store.cool(Cooldown("a", "*", FOREVER, "dead", "rejected"), NOW)
    seen = {(c.capability, c.kind) for c in other.snapshot(NOW).cooldowns}
    assert seen == {("t2t", "rate_limited"), ("*", "dead")}
    assert [c.kind for c in other.snapshot(NOW + 61).cooldowns] == ["dead"]
    other.clear("a", ("dead",))
    assert store.snapshot(NOW).cooldowns[0].kind == "rate_limited"


def test_leases_respect_the_cap_across_handles_and_expire(store, other):
    store.sync_accounts([account("a"), account("b")], "env")
    assert store.lease("a", "l1", NOW, NOW + 30, 2)
    assert other.lease("a", "l2", NOW, NOW + 30, 2)
    assert not store.lease("a", "l3", NOW, NOW + 30, 2)
    assert other.snapshot(NOW).busy == {"a": 2}
    other.release("a", "l1")
    assert store.lease("a", "l3", NOW, NOW + 30, 2)
    assert store.lease("a", "l4", NOW + 31, NOW + 60, 2)  # l2 and l3 expired (a dead worker)
    assert store.snapshot(NOW + 31).busy == {"a": 1}
    assert store.lease("b", "x", NOW, NOW + 1, 0) and store.lease("b", "y", NOW, NOW + 1, 0)


def test_a_lock_has_one_owner_until_released_or_expired(store, other):
    assert store.lock("signin:a", "me", NOW, 30)
    assert not other.lock("signin:a", "you", NOW, 30)
    other.unlock("signin:a", "you")  # not the owner: nothing happens
    assert not other.lock("signin:a", "you", NOW + 1, 30)
    store.unlock("signin:a", "me")
    assert other.lock("signin:a", "you", NOW + 2, 30)


def test_counters_add_up_across_handles(store, other):
    store.bump("key:k1", {"requests": 1, "input_tokens": 10}, {"last_used": NOW})
    other.bump("key:k1", {"requests": 1, "input_tokens": 5}, {"last_used": NOW + 1})
    other.bump("account:a", {"requests": 1}, {"last_error": "rate_limited: quota"})
    usage = store.usage("key:")
    assert list(usage) == ["k1"]
    assert float(usage["k1"]["requests"]) == 2 and float(usage["k1"]["input_tokens"]) == 15
    assert float(usage["k1"]["last_used"]) == NOW + 1
    store.sync_accounts([account("a")], "env")
    assert store.snapshot(NOW).usage["a"]["last_error"] == "rate_limited: quota"


def test_rate_limit_windows_count_and_roll(store, other):
    assert [store.hit("k:60:1", NOW, NOW + 60) for _ in range(2)] == [1, 2]
    assert other.hit("k:60:1", NOW, NOW + 60) == 3
    assert other.hit("k:60:2", NOW + 61, NOW + 120) == 1


def test_removing_an_account_drops_its_state(store):
    store.sync_accounts([account("a"), account("b")], "env")
    store.cool(Cooldown("a", "*", FOREVER, "dead", "x"), NOW)
    store.bump("account:a", {"requests": 3}, {})
    assert store.remove_account("a") and not store.remove_account("a")
    snap = store.snapshot(NOW)
    assert [a.id for a in snap.accounts] == ["b"] and not snap.cooldowns and not snap.usage


def test_the_sqlite_file_is_private_and_in_wal_mode(tmp_path):
    store = open_store("", str(tmp_path / "data"))
    store.put_account(account("a", token="secret-token"))
    path = tmp_path / "data" / "qwenfree.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    for sidecar in path.parent.glob("qwenfree.db-*"):
        assert stat.S_IMODE(sidecar.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
    store.close()


def test_a_lease_taken_in_another_process_counts_here(tmp_path):
    """Two processes on one file, as two gunicorn workers are: the cap holds between them."""
    db = tmp_path / "data"
    mine = open_store("", str(db))
    assert mine.lease("a", "mine", NOW, NOW + 60, 2)
    code = (
        "import sys; from qwenfree.store import open_store\n"
        f"s = open_store('', {str(db)!r})\n"
        f"print(s.lease('a', 'theirs', {NOW}, {NOW + 60}, 2), s.lease('a', 'x', {NOW}, {NOW + 60}, 2))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["True", "False"]
    assert mine.snapshot(NOW).busy == {"a": 2}
    mine.close()


def test_a_store_that_cannot_open_stops_the_start_with_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="QWENFREE_STORE"):
        open_store("postgres://db", str(tmp_path))
    with pytest.raises(ValueError, match="QWENFREE_DATA_DIR: cannot create the state file"):
        open_store("", "/proc/no-such-dir/data")
    with pytest.raises(ValueError, match="QWENFREE_STORE: cannot reach Redis"):
        open_store("redis://127.0.0.1:1/0", str(tmp_path))
