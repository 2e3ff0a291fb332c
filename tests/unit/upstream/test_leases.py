"""Concurrency leases belong to a process: leases of a process that is gone (kill -9, a crashed
or timed-out worker, a restart) are dropped at start and while a request waits for a slot, so
idle accounts never look busy for ``lease_ttl`` (issue 14, item 4: after kill -9 under load 4
leases stayed for 30 minutes, across a restart, and 2 of 6 streams got 429)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from qwenfree.upstream import owners
from qwenfree.upstream.pool import REAP_EVERY
from tests.support.accounts import (
    ADMIN,
    Clock,
    chat,
    keyed,
    redis_server,  # noqa: F401 - fixture
    redis_url,  # noqa: F401 - fixture
    tokens,
    with_clock,
)

ROOT = Path(__file__).resolve().parents[3]
# Another gateway process: leases every account the way the pool does, says so, then dies
# without releasing (SIGKILL) or stays alive holding them.
HOLDER = """
import os, signal, sys, time
from qwenfree.store import open_store
from qwenfree.upstream import owners
from qwenfree.upstream.pool import REAP_EVERY
from qwenfree.upstream.accounts import parse_accounts
store = open_store(sys.argv[1], sys.argv[2])
now = time.time()
for spec in parse_accounts(sys.argv[3]):
    assert store.lease(spec.id, owners.lease_id(owners.this_process()), now, now + 1800, 1)
print("held", flush=True)
if sys.argv[4] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(60)
"""


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request) -> str:
    return request.getfixturevalue("redis_url") if request.param == "redis" else ""


def hold(store_url: str, data: Path, accounts: str, then: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", HOLDER, store_url, str(data), accounts, then]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    with proc.stdout:
        assert proc.stdout.readline().strip() == "held"
    return proc


def busy(gateway) -> list[int]:
    r = requests.get(gateway.url + "/admin/api/accounts", headers=ADMIN)
    return [a["busy"] for a in r.json()["accounts"]]


def test_leases_of_a_killed_process_are_dropped_at_start(
    start_gateway, settings, tmp_path, fake, store_url
):
    accounts = ",".join(tokens(2))
    data = tmp_path / "data"
    dead = hold(store_url, data, accounts, "die")
    assert dead.wait(10) == -signal.SIGKILL
    gateway = start_gateway(
        keyed(settings, data, accounts=accounts, store=store_url, account_concurrency=1)
    )
    assert busy(gateway) == [0, 0]
    assert chat(gateway.url).status_code == 200


def test_leases_of_a_live_process_count_until_it_dies(
    start_gateway, settings, tmp_path, fake, store_url
):
    accounts = tokens(1)[0]
    data = tmp_path / "data"
    alive = hold(store_url, data, accounts, "live")
    try:
        gateway = start_gateway(
            keyed(settings, data, accounts=accounts, store=store_url, account_concurrency=1)
        )
        assert busy(gateway) == [1]  # another worker's stream: its slot is taken
        assert chat(gateway.url).status_code == 429
    finally:
        alive.send_signal(signal.SIGKILL)
        alive.wait(10)
    clock = Clock()
    with_clock(gateway, clock)
    clock.now += REAP_EVERY + 0.1  # waits look for dead owners at most this often
    started = time.monotonic()
    assert chat(gateway.url).status_code == 200  # the wait for a slot found its owner gone
    assert time.monotonic() - started < 1.0
    assert busy(gateway) == [0]


def test_an_owner_is_gone_only_when_its_process_is():
    me = owners.this_process()
    assert not owners.gone(me, local=True)
    host, pid, started = me.rsplit(":", 2)
    assert owners.gone(f"{host}:{pid}:{started}0", local=True)  # the pid was reused
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert owners.gone(f"{host}:{child.pid}:1", local=True)
    assert not owners.gone(f"elsewhere:{child.pid}:1", local=False)  # cannot tell: keep
    assert owners.gone(f"elsewhere:{child.pid}:1", local=True)  # one machine (SQLite)
    assert owners.gone("", local=True) and not owners.gone("", local=False)
