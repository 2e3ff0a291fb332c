"""AccountPool: upstream accounts held by the server, shared by every worker through a store.

Routing: each try leases the least-busy healthy account (at most ``account_concurrency`` answers
at once per account, counted across workers), preferring the account a continued conversation
lives on. The handles issued name that account only to the caller's key (``accounts.bind``):
another key, or a made-up id, finds none and starts a fresh chat. Failures bench the account
for what they mean:

* ``RateLimited`` (a daily quota): this capability (chat type) only, for the hours the upstream
  names;
* a WAF / captcha page: the whole account, for minutes; never retried on another account
  (hammering from the same address deepens the block);
* a rejected token: sign in again when the account has a password and retry once; otherwise the
  account is *dead* until an operator refreshes or replaces it;
* 5xx, timeouts, empty answers: tried last for a while, not skipped.

Tokens are refreshed before they expire (``exp`` claim, ``refresh_margin``) by signing in again,
one flight per account: a lock in this process plus a store lock across processes.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from qwenfree import errors
from qwenfree.settings import Settings
from qwenfree.store import AccountRecord, Cooldown, Counters, Store
from qwenfree.upstream import owners, policy
from qwenfree.upstream.account_tokens import AccountTokens, alias
from qwenfree.upstream.accounts import AccountSpec, Lease, bind, digest, jwt_exp
from qwenfree.upstream.client import UpstreamClient
from qwenfree.upstream.credentials import TokenKeeper
from qwenfree.upstream.turn import Handle

log = logging.getLogger(__name__)
POLL = 0.1  # seconds between looks for a free slot while every account is busy
REAP_EVERY = 1.0  # at most this often, a wait for a slot first drops dead processes' leases
USABLE = ("ready", "failing", "busy")  # states that can serve (busy: once a slot frees)


@dataclass(frozen=True)
class AccountState:
    """An account as routing sees it now."""

    record: AccountRecord
    state: str  # ready | busy | failing | cooling | dead
    until: float | None  # when a cooling account is back
    reason: str
    busy: int
    cooldowns: list[Cooldown] = field(default_factory=list)
    usage: Counters = field(default_factory=dict)

    @property
    def alias(self) -> str:
        return alias(self.record.id)


class AccountPool(AccountTokens):
    def __init__(
        self,
        settings: Settings,
        store: Store,
        client: UpstreamClient,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        on_refresh: Callable[[str], None] | None = None,
        keeper: TokenKeeper | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client = client
        self.keeper = keeper or TokenKeeper(
            client, settings.auth_url, settings.refresh_ahead, store, clock, on_refresh, sleep
        )
        self.clock = clock
        self.sleep = sleep
        self.on_refresh = on_refresh or (lambda result: None)
        self._flights: dict[str, threading.Lock] = {}
        self._flights_lock = threading.Lock()
        self._reaped = float("-inf")
        self._pasted: dict[str, str] = {}  # account id -> the pasted Cookie header seeded
        self._secret: str | None = None  # this installation's handle secret, read once

    # -- configuration

    def sync(self, specs: Sequence[AccountSpec]) -> None:
        """Make the configured accounts (QWENFREE_ACCOUNTS / _FILE) the store's "env" set."""
        now = self.clock()
        # Spaced by a microsecond so ties in routing go to the accounts in configured order.
        records = [_record(spec, "env", now + i * 1e-6) for i, spec in enumerate(specs)]
        self.store.sync_accounts(records, "env")
        self.reap()  # leases of workers killed before this start (kill -9, a crash)

    def reap(self) -> int:
        """Drop the leases of processes that are gone (see qwenfree.upstream.owners)."""
        self._reaped = self.clock()
        return owners.reap(self.store, self._reaped)

    # -- the router interface (see qwenfree.upstream.accounts)

    def catalog_token(self, tokens: Sequence[str]) -> str | None:
        """None: the caller's key is not an upstream token, and the catalog's fetcher picks an
        account's token itself (``any_token``) on the rare occasions it calls the upstream."""
        return None

    def any_token(self) -> str | None:
        """Some usable account's current token, without leasing it (for listing models)."""
        now = self.clock()
        for s in self.states("t2t", now):
            token, exp = s.record.token, s.record.token_exp
            if s.state in USABLE and token and (exp is None or exp > now):
                return token
        return None

    def leases(
        self, tokens: Sequence[str], capability: str, prefer: str | None = None
    ) -> Iterator[Lease]:
        """Accounts to try, one lease at a time; raise when none can serve at all."""
        tried: set[str] = set()
        retried: set[str] = set()
        soft = False
        while True:
            lease = self._acquire(capability, tried, prefer)
            if lease is None:
                if soft:
                    return  # the caller raises the last failure: nothing is benched for long
                raise self._exhausted(capability)
            yield lease
            account = str(lease.account_id)
            if lease.retry and account not in retried:
                retried.add(account)  # signed in again: one more try on it
                continue
            tried.add(account)
            soft = soft or lease.soft

    def tag(self, lease: Lease, tokens: Sequence[str], chat_id: str, response_id: str) -> str:
        """The caller's (``tokens``: its key to us) tag of this chat on this account."""
        return bind(lease.seal or "", tokens, chat_id, response_id)

    def owner(self, handle: Handle, tokens: Sequence[str]) -> str | None:
        """The account whose tag for this caller and chat the handle carries (one HMAC per
        account); None for a handle of another key, a made-up one or a removed account."""
        for s in self.states():
            tag = bind(self._seal(s.record), tokens, handle.chat_id, handle.response_id)
            if hmac.compare_digest(tag, handle.token_fp):
                return s.record.id
        return None

    def _seal(self, record: AccountRecord) -> str:
        """The account's key for ``bind``: its configured credential (stable across refreshes)
        mixed with a random secret of this installation, so a caller holding a tag cannot test
        guesses of a weak account password offline."""
        if self._secret is None:
            self._secret = handle_secret(self.store, self.clock())
        who = f"email:{record.email.lower()}:{record.password or ''}" if record.email else ""
        return digest(f"{self._secret}\n{who or 'token:' + (record.token or '')}")

    def report(self, lease: Lease, err: errors.QwenfreeError) -> None:
        """Bench the account as the failure-policy table says (policy.py)."""
        rule, now, account = policy.rule(err), self.clock(), str(lease.account_id)
        if rule.counted:
            note = f"{err.kind}: {err.message}"[:300]
            self.store.bump(
                "account:" + account, {"failures": 1}, {"last_error": note, "last_error_at": now}
            )
        lease.soft = not rule.hard or rule.scope == policy.NOBODY
        if rule.scope == policy.NOBODY:
            return
        if rule.refresh_first:
            self._rejected(lease, rule, err)
        else:
            self.benched(account, lease.capability, rule, err)

    def succeeded(self, lease: Lease) -> None:
        if lease.failing:  # it was on probation when leased: that is over now
            self.store.clear(str(lease.account_id), ("failing",))

    # -- states

    def states(self, capability: str = "t2t", now: float | None = None) -> list[AccountState]:
        """Every account with its routing state for ``capability``."""
        now = self.clock() if now is None else now
        snap = self.store.snapshot(now)
        cap = self.settings.account_concurrency
        out = []
        for record in sorted(snap.accounts, key=lambda r: r.added_at):
            cools = [c for c in snap.cooldowns if c.account_id == record.id]
            busy = snap.busy.get(record.id, 0)
            state, until, reason = _judge(record, cools, capability, busy, cap, now)
            usage = snap.usage.get(record.id, {})
            out.append(AccountState(record, state, until, reason, busy, cools, usage))
        return out

    def counts(self) -> dict[str, int]:
        """How many accounts are in each state (for /readyz and /metrics)."""
        found = {name: 0 for name in ("ready", "busy", "failing", "cooling", "dead")}
        for s in self.states():
            found[s.state] += 1
        return found

    # -- leasing

    def _acquire(self, capability: str, exclude: set[str], prefer: str | None) -> Lease | None:
        polls = max(1, int(self.settings.account_wait / POLL) + 1)
        for attempt in range(polls):
            now = self.clock()
            open_ = [
                s
                for s in self.states(capability, now)
                if s.state in USABLE and s.record.id not in exclude
            ]
            for s in sorted(open_, key=partial(_rank, prefer=prefer)):
                if s.state != "busy" and (lease := self._take(s, capability, now)) is not None:
                    return lease
            if not any(s.state == "busy" for s in open_) or attempt + 1 == polls:
                return None
            if now - self._reaped >= REAP_EVERY and self.reap():
                continue  # slots of a dead worker came free: look again now
            self.sleep(POLL)
        return None

    def _take(self, s: AccountState, capability: str, now: float) -> Lease | None:
        token = self._usable_token(s.record, now)
        lease_id = owners.lease_id(owners.this_process())
        account = s.record.id
        cap, ttl = self.settings.account_concurrency, self.settings.lease_ttl
        if token is None or not self.store.lease(account, lease_id, now, now + ttl, cap):
            return None
        self.store.bump("account:" + account, {"requests": 1}, {"last_used": now})
        release = partial(self._release, account, lease_id)
        lease = Lease(token, alias(account), capability, account, _release=release)
        lease.credential = s.record.token  # as configured: stable across refreshes
        lease.seal = self._seal(s.record)
        lease.failing = s.state == "failing"
        self._carry_cookies(s, token)
        return lease

    def _carry_cookies(self, s: AccountState, token: str) -> None:
        """Put the browser cookies an operator pasted for this account (after solving a
        captcha, say) into its jar, once per worker and paste."""
        pasted = s.usage.get("cookie")
        identity = self.client.site.identity
        if not isinstance(pasted, str) or not pasted or identity is None:
            return
        if self._pasted.get(s.record.id) != pasted:
            self._pasted[s.record.id] = pasted
            self.client.cookies.seed(identity(token), pasted)

    def _release(self, account: str, lease_id: str) -> None:
        try:
            self.store.release(account, lease_id)
        except Exception:  # the lease expires by itself (lease_ttl); never mask the answer
            log.warning("could not release a lease on %s", alias(account), exc_info=True)

    def _exhausted(self, capability: str) -> errors.QwenfreeError:
        now = self.clock()
        states = self.states(capability, now)
        if any(s.state == "busy" for s in states):
            return errors.NoTokenAvailable(
                f"All {len(states)} upstream accounts are busy; try again in a moment",
                retry_after=1,
            )
        waits = [s.until - now for s in states if s.state == "cooling" and s.until]
        if waits:
            wait = max(1.0, min(waits))
            return errors.NoTokenAvailable(
                "Every upstream account is cooling down after a rate limit or an anti-bot "
                f"check; the first is free again in {_human(wait)}",
                retry_after=wait,
            )
        if not states:
            return errors.NoAccountUsable("No upstream account is configured (QWENFREE_ACCOUNTS)")
        return errors.NoAccountUsable(
            "No upstream account can serve: "
            + "; ".join(f"{s.alias}: {s.reason}" for s in states)[:500]
        )

    def _record(self, account: str) -> AccountRecord | None:
        found = [a for a in self.store.snapshot(self.clock()).accounts if a.id == account]
        return found[0] if found else None


def _record(spec: AccountSpec, source: str, now: float) -> AccountRecord:
    exp = jwt_exp(spec.token) if spec.token else None
    return AccountRecord(spec.id, spec.email, spec.password, spec.token, exp, source, now)


def handle_secret(store: Store, now: float) -> str:
    """The random secret every worker of this installation mixes into the handles it issues,
    made once under a store lock (so all workers and restarts share it), then read back."""
    subject, owner = "meta:handles", secrets.token_hex(8)
    for _ in range(50):
        secret = store.usage(subject).get("", {}).get("secret")
        if isinstance(secret, str) and secret:
            return secret
        if store.lock("handle-secret", owner, now, 10):
            try:
                if not store.usage(subject).get("", {}).get("secret"):
                    store.bump(subject, {}, {"secret": secrets.token_hex(32)})
            finally:
                store.unlock("handle-secret", owner)
        else:
            time.sleep(0.05)  # another worker is making it
    raise errors.StoreUnavailable("the state store holds no handle secret and none could be made")


def _judge(
    record: AccountRecord,
    cools: list[Cooldown],
    capability: str,
    busy: int,
    cap: int,
    now: float,
) -> tuple[str, float | None, str]:
    """(state, until, reason) of one account for one capability."""
    hard = [c for c in cools if c.capability in ("*", capability) and c.kind != "failing"]
    if dead := [c for c in hard if c.kind == "dead"]:
        return "dead", None, dead[0].reason
    can_sign_in = bool(record.email and record.password)
    if not record.token and not can_sign_in:
        return "dead", None, "no token and no password"
    if record.token_exp is not None and record.token_exp <= now and not can_sign_in:
        return "dead", None, "the token has expired; add a fresh one"
    if hard:
        last = max(hard, key=lambda c: c.until)
        return "cooling", last.until, f"{last.kind}: {last.reason}"
    if cap and busy >= cap:
        return "busy", None, f"{busy} answers streaming"
    if failing := [c for c in cools if c.kind == "failing"]:
        return "failing", None, failing[0].reason
    return "ready", None, ""


def _rank(s: AccountState, prefer: str | None) -> tuple[Any, ...]:
    """Healthy before failing, the conversation's own account first, then least busy, then
    least recently used."""
    preferred = prefer is not None and s.record.id == prefer
    last_used = float(s.usage.get("last_used", 0.0) or 0.0)
    return (s.state == "failing", not preferred, s.busy, last_used)


def _human(seconds: float) -> str:
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} hours"
    if seconds >= 90:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds)} seconds"
