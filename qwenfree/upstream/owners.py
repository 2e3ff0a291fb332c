"""Which process holds a concurrency lease, and whether that process still exists.

A lease id is ``<owner>/<random>``; the owner is ``<host>:<pid>:<start>``, where ``start`` is the
process's start time in clock ticks since boot (Linux ``/proc/<pid>/stat``; elsewhere a random
nonce). A worker killed with SIGKILL, by gunicorn's timeout or a container restart never
releases its leases; without this they made idle accounts look busy until ``lease_ttl`` (30
minutes) passed. :func:`reap` drops the leases whose owner is gone: every pool does at start
(``AccountPool.sync``) and again, at most once a second, while it waits for a free slot.

pid and start time together name one process: a pid reused after a restart (containers count
from 1 again) has another start time. Only processes on this machine can be checked: with a
SQLite store every process is (SQLite's WAL needs one machine, and a recreated container's new
host name must not hide its predecessor's leases); with Redis, leases of other hosts are left
to ``lease_ttl``.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from functools import cache
from typing import Protocol

log = logging.getLogger(__name__)
SEPARATOR = "/"  # between the owner and the random part of a lease id; no host name has one


class LeaseStore(Protocol):
    local: bool  # every process using this store runs on this machine

    def held(self, now: float) -> list[tuple[str, str]]: ...

    def release(self, account_id: str, lease_id: str) -> None: ...


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None (no /proc, no process)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


@cache
def _this_process(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:{start_time(pid) or uuid.uuid4().hex[:16]}"


def this_process() -> str:
    """This process's owner name (per pid: a forked worker gets its own)."""
    return _this_process(os.getpid())


def lease_id(owner: str) -> str:
    return owner + SEPARATOR + uuid.uuid4().hex


def owner_of(lease: str) -> str:
    """The owner part of a lease id; "" for ids written before leases named their owner."""
    owner, found, _ = lease.partition(SEPARATOR)
    return owner if found else ""


def gone(owner: str, *, local: bool) -> bool:
    """Is the process named ``owner`` certainly no longer running?"""
    try:
        host, pid_text, started = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:  # no owner recorded (an older version's lease)
        return local
    if not local and host != socket.gethostname():
        return False  # cannot look at another machine's processes
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the pid exists
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, under another user
    now_started = start_time(pid)
    return now_started is not None and now_started != started


def reap(store: LeaseStore, now: float) -> int:
    """Drop the leases of processes that are gone; return how many were dropped."""
    me, verdicts, dropped = this_process(), {}, 0
    for account_id, lease in store.held(now):
        owner = owner_of(lease)
        if owner == me:
            continue
        if owner not in verdicts:
            verdicts[owner] = gone(owner, local=store.local)
        if verdicts[owner]:
            store.release(account_id, lease)
            dropped += 1
    if dropped:
        log.warning("dropped %d concurrency leases of processes that are gone", dropped)
    return dropped
