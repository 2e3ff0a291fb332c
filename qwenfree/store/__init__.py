"""Shared state for server-held accounts: tokens, cooldowns, concurrency leases, usage counters
and rate-limit windows.

Two backends with one interface (:class:`Store`):

* SQLite (default): one file under ``QWENFREE_DATA_DIR``, mode 0600, WAL journal, so every
  gunicorn worker of one instance opens the same file and sees the same state, and it survives
  restarts. Needs no server.
* Redis (``QWENFREE_STORE=redis://...``): for several instances behind one reverse proxy.

Stores keep no clock: callers pass ``now`` (unix seconds), so tests inject time. Nothing here
knows chat.qwen.ai or Flask; the policy lives in :mod:`qwenfree.upstream.pool`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

# A cooldown that only an operator (or a successful sign-in) ends: the year 9999, which every
# backend stores exactly (unlike float infinity).
FOREVER = 253402300799.0
Counters = dict[str, float | str]
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One upstream account as stored."""

    id: str
    email: str | None
    password: str | None = field(repr=False)  # plaintext, only when the operator gave one
    token: str | None = field(repr=False)  # the current JWT
    token_exp: float | None  # its ``exp`` claim (unix seconds); None when unknown
    source: str  # "env" (QWENFREE_ACCOUNTS, re-synced at start) or "admin" (added at run time)
    added_at: float


@dataclass(frozen=True, slots=True)
class Cooldown:
    """A bench on one account for one capability (a chat type, or ``*`` for all of them)."""

    account_id: str
    capability: str
    until: float  # unix seconds; FOREVER = until refreshed or checked
    kind: str  # rate_limited | challenged | dead | failing (failing = tried last, not skipped)
    reason: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the pool decides on, read together."""

    accounts: list[AccountRecord]
    cooldowns: list[Cooldown]  # unexpired only
    busy: dict[str, int]  # account id -> live leases
    usage: dict[str, Counters]  # account id -> counters (requests, failures, last_used, ...)


class Store(Protocol):
    # Every process using the store runs on this machine (SQLite), so a lease's owner process
    # can be looked up (qwenfree.upstream.owners); False for Redis.
    local: bool

    def snapshot(self, now: float) -> Snapshot: ...

    def sync_accounts(self, records: list[AccountRecord], source: str) -> None:
        """Make the accounts of ``source`` exactly ``records``; keep refreshed tokens."""

    def put_account(self, record: AccountRecord) -> None: ...

    def remove_account(self, account_id: str) -> bool: ...

    def set_token(self, account_id: str, token: str, exp: float | None) -> None: ...

    def cool(self, cooldown: Cooldown, now: float) -> None: ...

    def clear(self, account_id: str, kinds: tuple[str, ...]) -> None:
        """Lift the account's cooldowns of these kinds."""

    def lease(self, account_id: str, lease_id: str, now: float, expires: float, cap: int) -> bool:
        """Take a slot unless ``cap`` (0 = none) live leases exist; atomic across processes."""

    def release(self, account_id: str, lease_id: str) -> None: ...

    def held(self, now: float) -> list[tuple[str, str]]:
        """(account id, lease id) of every live lease; a lease id starts with its owner."""

    def lock(self, name: str, owner: str, now: float, ttl: float) -> bool:
        """A short exclusive lock (single-flight sign-in across processes)."""

    def unlock(self, name: str, owner: str) -> None: ...

    def bump(self, subject: str, add: Mapping[str, float], put: Mapping[str, float | str]) -> None:
        """Add to counters and overwrite marks of ``subject`` (``account:<id>``, ``key:<id>``)."""

    def usage(self, prefix: str) -> dict[str, Counters]:
        """Counters of every subject starting with ``prefix``, keyed by the rest."""

    def hit(self, bucket: str, now: float, expires: float) -> int:
        """Count one hit in a rate-limit window; return the window's count."""

    def close(self) -> None: ...


def open_store(url: str, data_dir: str) -> Store:
    """``""``/``sqlite`` -> ``<data_dir>/qwenfree.db``; ``sqlite:///path``; ``redis://...``."""
    if url.startswith(REDIS_SCHEMES):
        from qwenfree.store.redis_store import RedisStore

        return RedisStore(url)
    if url in ("", "sqlite"):
        path = Path(data_dir) / "qwenfree.db"
    elif url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite://"))
    else:
        raise ValueError(f"QWENFREE_STORE: expected sqlite:///path or redis://..., got {url!r}")
    from qwenfree.store.sqlite_store import SqliteStore

    return SqliteStore(path)
