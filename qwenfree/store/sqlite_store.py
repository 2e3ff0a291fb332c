"""The default store: one SQLite file shared by every worker process of an instance.

WAL mode lets readers run beside the one writer; ``busy_timeout`` makes a worker wait (briefly:
every write here is a single small statement or transaction) instead of failing when another
holds the write lock. Read-modify-write steps (leases, locks) run in ``BEGIN IMMEDIATE``
transactions, so two processes cannot both take the last slot. One connection per store,
guarded by a lock (cooperative under gevent); sqlite3 calls block the worker for their
microseconds, which is cheaper than a thread hop.

Schema (``PRAGMA user_version`` = 1)::

    accounts(id PK, email, password, token, token_exp, source, added_at)
    cooldowns(account_id, capability, until, kind, reason)   PK (account_id, capability)
    leases(lease_id PK, account_id, expires)                  live slots; id = <owner>/<random>
    locks(name PK, owner, expires)                            single-flight sign-in
    usage(subject, field, value)                              PK (subject, field); counters
    hits(bucket PK, count, expires)                           rate-limit windows
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from qwenfree.store import AccountRecord, Cooldown, Counters, Snapshot

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY, email TEXT, password TEXT, token TEXT, token_exp REAL,
    source TEXT NOT NULL, added_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cooldowns (
    account_id TEXT NOT NULL, capability TEXT NOT NULL, until REAL NOT NULL,
    kind TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (account_id, capability));
CREATE TABLE IF NOT EXISTS leases (
    lease_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS leases_by_account ON leases (account_id, expires);
CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL);
CREATE TABLE IF NOT EXISTS usage (
    subject TEXT NOT NULL, field TEXT NOT NULL, value, PRIMARY KEY (subject, field));
CREATE TABLE IF NOT EXISTS hits (
    bucket TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL);
PRAGMA user_version = 1;
"""
SELECT_ACCOUNTS = "SELECT id, email, password, token, token_exp, source, added_at FROM accounts"
UPSERT_ENV_ACCOUNT = (
    "INSERT INTO accounts (id, email, password, token, token_exp, source, added_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET email = excluded.email, "
    "password = excluded.password, source = excluded.source, "
    "token = COALESCE(accounts.token, excluded.token), "
    "token_exp = COALESCE(accounts.token_exp, excluded.token_exp)"
)
REPLACE_ACCOUNT = (
    "INSERT OR REPLACE INTO accounts (id, email, password, token, token_exp, source, added_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class SqliteStore:
    local = True  # WAL needs every process on one machine

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Create the file ourselves so it is born 0600 (SQLite gives its -wal/-shm files
            # the database file's mode); tokens and passwords live in it.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        except OSError as exc:
            raise ValueError(
                f"QWENFREE_DATA_DIR: cannot create the state file {path}: {exc.strerror} "
                "(in a container, mount a writable volume there)"
            ) from None
        self._db = sqlite3.connect(
            path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(SCHEMA)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so a read-then-write step is atomic."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- accounts

    def snapshot(self, now: float) -> Snapshot:
        with self._lock:
            db = self._db
            db.execute("BEGIN")  # one consistent read across the four tables
            try:
                accounts = db.execute(SELECT_ACCOUNTS).fetchall()
                cools = db.execute(
                    "SELECT account_id, capability, until, kind, reason FROM cooldowns "
                    "WHERE until > ?",
                    (now,),
                ).fetchall()
                busy = db.execute(
                    "SELECT account_id, COUNT(*) FROM leases WHERE expires > ? GROUP BY 1", (now,)
                ).fetchall()
                usage = db.execute(
                    "SELECT subject, field, value FROM usage WHERE subject LIKE 'account:%'"
                ).fetchall()
            finally:
                db.execute("COMMIT")
        return Snapshot(
            [AccountRecord(*row) for row in accounts],
            [Cooldown(*row) for row in cools],
            {str(a): int(n) for a, n in busy},
            _group(usage, "account:"),
        )

    def sync_accounts(self, records: list[AccountRecord], source: str) -> None:
        with self._tx() as db:
            wanted = {r.id for r in records}
            stored = db.execute("SELECT id FROM accounts WHERE source = ?", (source,)).fetchall()
            for (account_id,) in stored:
                if account_id not in wanted:
                    db.execute("DELETE FROM accounts WHERE id = ?", (account_id,))
            for r in records:
                db.execute(UPSERT_ENV_ACCOUNT, _row(r))
            db.execute("DELETE FROM cooldowns WHERE account_id NOT IN (SELECT id FROM accounts)")

    def put_account(self, record: AccountRecord) -> None:
        with self._tx() as db:
            db.execute(REPLACE_ACCOUNT, _row(record))

    def remove_account(self, account_id: str) -> bool:
        with self._tx() as db:
            gone = db.execute("DELETE FROM accounts WHERE id = ?", (account_id,)).rowcount
            db.execute("DELETE FROM cooldowns WHERE account_id = ?", (account_id,))
            db.execute("DELETE FROM usage WHERE subject = ?", ("account:" + account_id,))
        return gone > 0

    def set_token(self, account_id: str, token: str, exp: float | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE accounts SET token = ?, token_exp = ? WHERE id = ?",
                (token, exp, account_id),
            )

    # -- cooldowns

    def cool(self, cooldown: Cooldown, now: float) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM cooldowns WHERE until <= ?", (now,))
            c = cooldown
            db.execute(
                "INSERT OR REPLACE INTO cooldowns VALUES (?, ?, ?, ?, ?)",
                (c.account_id, c.capability, c.until, c.kind, c.reason),
            )

    def clear(self, account_id: str, kinds: tuple[str, ...]) -> None:
        with self._tx() as db:
            for kind in kinds:
                db.execute(
                    "DELETE FROM cooldowns WHERE account_id = ? AND kind = ?", (account_id, kind)
                )

    # -- leases and locks

    def lease(self, account_id: str, lease_id: str, now: float, expires: float, cap: int) -> bool:
        with self._tx() as db:
            db.execute("DELETE FROM leases WHERE expires <= ?", (now,))
            (live,) = db.execute(
                "SELECT COUNT(*) FROM leases WHERE account_id = ?", (account_id,)
            ).fetchone()
            if cap and live >= cap:
                return False
            db.execute("INSERT INTO leases VALUES (?, ?, ?)", (lease_id, account_id, expires))
        return True

    def release(self, account_id: str, lease_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM leases WHERE lease_id = ?", (lease_id,))

    def held(self, now: float) -> list[tuple[str, str]]:
        rows = self._read("SELECT account_id, lease_id FROM leases WHERE expires > ?", (now,))
        return [(str(a), str(i)) for a, i in rows]

    def lock(self, name: str, owner: str, now: float, ttl: float) -> bool:
        with self._tx() as db:
            db.execute("DELETE FROM locks WHERE name = ? AND expires <= ?", (name, now))
            taken = db.execute(
                "INSERT OR IGNORE INTO locks VALUES (?, ?, ?)", (name, owner, now + ttl)
            ).rowcount
        return taken > 0

    def unlock(self, name: str, owner: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

    # -- counters

    def bump(self, subject: str, add: Mapping[str, float], put: Mapping[str, float | str]) -> None:
        with self._tx() as db:
            for name, n in add.items():
                db.execute(
                    "INSERT INTO usage VALUES (?, ?, ?) ON CONFLICT (subject, field) "
                    "DO UPDATE SET value = usage.value + excluded.value",
                    (subject, name, n),
                )
            for name, value in put.items():
                db.execute("INSERT OR REPLACE INTO usage VALUES (?, ?, ?)", (subject, name, value))

    def usage(self, prefix: str) -> dict[str, Counters]:
        rows = self._read(
            "SELECT subject, field, value FROM usage WHERE substr(subject, 1, ?) = ?",
            (len(prefix), prefix),
        )
        return _group(rows, prefix)

    def hit(self, bucket: str, now: float, expires: float) -> int:
        with self._tx() as db:
            db.execute("DELETE FROM hits WHERE expires <= ?", (now,))
            (count,) = db.execute(
                "INSERT INTO hits VALUES (?, 1, ?) ON CONFLICT (bucket) "
                "DO UPDATE SET count = hits.count + 1 RETURNING count",
                (bucket, expires),
            ).fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _row(r: AccountRecord) -> tuple[object, ...]:
    return (r.id, r.email, r.password, r.token, r.token_exp, r.source, r.added_at)


def _group(rows: list[tuple[object, ...]], prefix: str) -> dict[str, Counters]:
    out: dict[str, Counters] = {}
    for subject, name, value in rows:
        out.setdefault(str(subject).removeprefix(prefix), {})[str(name)] = value  # type: ignore[assignment]
    return out
