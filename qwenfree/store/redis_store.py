"""The Redis store: the same state as the SQLite file, shared by several instances.

Keys (prefix ``qwenfree:``)::

    accounts              hash  id -> JSON account record
    cooldowns             hash  "<id>|<capability>" -> JSON {until, kind, reason}
    leases:<id>           zset  lease id (starting with its owner process) scored by expiry
    lock:<name>           string owner, with a TTL (SET NX PX)
    usage:<subject>       hash  counter/mark -> value; the set ``usage`` lists the subjects
    hit:<bucket>          string counter, expiring with its window

A lease is taken optimistically (add, count, take back if over the cap): two instances racing
for the last slot may both back off, but the cap is never exceeded. redis-py's sockets are
cooperative under gevent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

from qwenfree.store import AccountRecord, Cooldown, Counters, Snapshot

PREFIX = "qwenfree:"


class RedisStore:
    local = False  # instances on other hosts share it

    def __init__(self, url: str) -> None:
        self._r = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=5.0, socket_connect_timeout=5.0
        )
        try:
            self._r.ping()
        except redis.RedisError as exc:
            raise ValueError(f"QWENFREE_STORE: cannot reach Redis: {exc}") from None

    def _k(self, *parts: str) -> str:
        return PREFIX + ":".join(parts)

    # -- accounts

    def snapshot(self, now: float) -> Snapshot:
        accounts = [_account(v) for v in self._r.hvals(self._k("accounts"))]
        pipe = self._r.pipeline(transaction=False)
        pipe.hgetall(self._k("cooldowns"))
        for a in accounts:
            pipe.zcount(self._k("leases", a.id), f"({now}", "+inf")
            pipe.hgetall(self._k("usage", "account:" + a.id))
        cools, *rest = pipe.execute()
        busy = {a.id: int(n) for a, n in zip(accounts, rest[0::2], strict=True) if n}
        usage = {a.id: _counters(u) for a, u in zip(accounts, rest[1::2], strict=True) if u}
        live = [c for c in (_cooldown(k, v) for k, v in cools.items()) if c.until > now]
        return Snapshot(accounts, live, busy, usage)

    def sync_accounts(self, records: list[AccountRecord], source: str) -> None:
        stored = {a.id: a for a in map(_account, self._r.hvals(self._k("accounts")))}
        wanted = {r.id for r in records}
        pipe = self._r.pipeline()
        for old in stored.values():
            if old.source == source and old.id not in wanted:
                pipe.hdel(self._k("accounts"), old.id)
        for r in records:
            old = stored.get(r.id)
            if old is not None and old.token:  # keep a token refreshed since the last start
                r = AccountRecord(
                    r.id, r.email, r.password, old.token, old.token_exp, source, old.added_at
                )
            pipe.hset(self._k("accounts"), r.id, _dump_account(r))
        pipe.execute()

    def put_account(self, record: AccountRecord) -> None:
        self._r.hset(self._k("accounts"), record.id, _dump_account(record))

    def remove_account(self, account_id: str) -> bool:
        gone = self._r.hdel(self._k("accounts"), account_id)
        cools = [k for k in self._r.hkeys(self._k("cooldowns")) if k.startswith(account_id + "|")]
        pipe = self._r.pipeline()
        if cools:
            pipe.hdel(self._k("cooldowns"), *cools)
        pipe.delete(self._k("usage", "account:" + account_id))
        pipe.srem(self._k("usage"), "account:" + account_id)
        pipe.execute()
        return bool(gone)

    def set_token(self, account_id: str, token: str, exp: float | None) -> None:
        raw = self._r.hget(self._k("accounts"), account_id)
        if raw is None:
            return
        data = json.loads(raw) | {"token": token, "token_exp": exp}
        self._r.hset(self._k("accounts"), account_id, json.dumps(data))

    # -- cooldowns

    def cool(self, cooldown: Cooldown, now: float) -> None:
        body = {"until": cooldown.until, "kind": cooldown.kind, "reason": cooldown.reason}
        key = f"{cooldown.account_id}|{cooldown.capability}"
        self._r.hset(self._k("cooldowns"), key, json.dumps(body))
        stale = [k for k, v in self._r.hgetall(self._k("cooldowns")).items() if _until(v) <= now]
        if stale:
            self._r.hdel(self._k("cooldowns"), *stale)

    def clear(self, account_id: str, kinds: tuple[str, ...]) -> None:
        found = self._r.hgetall(self._k("cooldowns"))
        doomed = [
            k
            for k, v in found.items()
            if k.startswith(account_id + "|") and json.loads(v).get("kind") in kinds
        ]
        if doomed:
            self._r.hdel(self._k("cooldowns"), *doomed)

    # -- leases and locks

    def lease(self, account_id: str, lease_id: str, now: float, expires: float, cap: int) -> bool:
        key = self._k("leases", account_id)
        pipe = self._r.pipeline()
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zadd(key, {lease_id: expires})
        pipe.zcard(key)
        pipe.expireat(key, int(expires) + 1)
        count = pipe.execute()[2]
        if cap and count > cap:
            self._r.zrem(key, lease_id)
            return False
        return True

    def release(self, account_id: str, lease_id: str) -> None:
        self._r.zrem(self._k("leases", account_id), lease_id)

    def held(self, now: float) -> list[tuple[str, str]]:
        start = len(self._k("leases", ""))
        keys = list(self._r.scan_iter(match=self._k("leases", "*"), count=500))
        pipe = self._r.pipeline(transaction=False)
        for key in keys:
            pipe.zrangebyscore(key, f"({now}", "+inf")
        found = pipe.execute()
        return [(k[start:], lease) for k, ids in zip(keys, found, strict=True) for lease in ids]

    def lock(self, name: str, owner: str, now: float, ttl: float) -> bool:
        return bool(self._r.set(self._k("lock", name), owner, nx=True, px=max(1, int(ttl * 1000))))

    def unlock(self, name: str, owner: str) -> None:
        key = self._k("lock", name)
        if self._r.get(key) == owner:  # a lock that expired and was retaken is not ours
            self._r.delete(key)

    # -- counters

    def bump(self, subject: str, add: Mapping[str, float], put: Mapping[str, float | str]) -> None:
        key = self._k("usage", subject)
        pipe = self._r.pipeline()
        pipe.sadd(self._k("usage"), subject)
        for name, n in add.items():
            pipe.hincrbyfloat(key, name, n)
        if put:
            pipe.hset(key, mapping=dict(put))
        pipe.execute()

    def usage(self, prefix: str) -> dict[str, Counters]:
        subjects = sorted(s for s in self._r.smembers(self._k("usage")) if s.startswith(prefix))
        pipe = self._r.pipeline(transaction=False)
        for s in subjects:
            pipe.hgetall(self._k("usage", s))
        found = pipe.execute()
        return {s.removeprefix(prefix): _counters(h) for s, h in zip(subjects, found, strict=True)}

    def hit(self, bucket: str, now: float, expires: float) -> int:
        key = self._k("hit", bucket)
        pipe = self._r.pipeline()
        pipe.incr(key)
        pipe.expireat(key, int(expires) + 1)
        return int(pipe.execute()[0])

    def close(self) -> None:
        self._r.close()


def _dump_account(r: AccountRecord) -> str:
    return json.dumps(
        {
            "id": r.id,
            "email": r.email,
            "password": r.password,
            "token": r.token,
            "token_exp": r.token_exp,
            "source": r.source,
            "added_at": r.added_at,
        }
    )


def _account(raw: str) -> AccountRecord:
    d = json.loads(raw)
    return AccountRecord(
        d["id"], d["email"], d["password"], d["token"], d["token_exp"], d["source"], d["added_at"]
    )


def _cooldown(key: str, raw: str) -> Cooldown:
    account_id, _, capability = key.partition("|")
    d = json.loads(raw)
    return Cooldown(account_id, capability, float(d["until"]), d["kind"], d["reason"])


def _until(raw: str) -> float:
    return float(json.loads(raw)["until"])


def _counters(found: dict[str, Any]) -> Counters:
    """Numbers back as numbers (Redis hands every value back as a string)."""
    out: Counters = {}
    for name, value in found.items():
        try:
            out[name] = float(value)
        except ValueError:
            out[name] = value
    return out
