"""Keeping a server-held account's token current: refresh tokens through the keeper,
email/password sign-ins (v2, falling back to v1) spaced across workers, one flight per account,
and what each failure of those does to the account (benched with a reason an operator can act
on). ``AccountPool`` (pool.py) mixes this in; routing and leasing stay there.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable

from qwenfree import errors
from qwenfree.settings import Settings
from qwenfree.store import FOREVER, AccountRecord, Cooldown, Store
from qwenfree.upstream import policy, qwen_auth
from qwenfree.upstream.accounts import Lease
from qwenfree.upstream.client import UpstreamClient
from qwenfree.upstream.credentials import TokenKeeper, parse

log = logging.getLogger(__name__)
POLL = 0.1
SIGNIN_LOCK = 30.0  # longest a sign-in may hold the cross-process lock
SIGNIN_WAIT = 15.0  # how long to wait for another process's sign-in
CHALLENGE_ADVICE = (
    ". It retries by itself; to clear it now, open chat.qwen.ai in a browser signed in as this "
    "account, pass the check, and add that page's Cookie header in /admin (Cookie)"
)


def alias(account_id: str) -> str:
    """The name logs, metrics and the admin page use: opaque, stable, not a secret."""
    return "acct-" + account_id[:6]


def sign_in(client: UpstreamClient, email: str, password: str) -> str:
    """Trade an email and password for a session token (v2, falling back to v1)."""
    return qwen_auth.sign_in(client, email, password).access


class AccountTokens:
    """The token half of the pool (see the module docstring)."""

    settings: Settings
    store: Store
    client: UpstreamClient
    keeper: TokenKeeper
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    on_refresh: Callable[[str], None]
    _flights: dict[str, threading.Lock]
    _flights_lock: threading.Lock

    def _record(self, account: str) -> AccountRecord | None:
        raise NotImplementedError

    def benched(
        self, account: str, capability: str, rule: policy.Rule, err: errors.QwenfreeError
    ) -> None:
        """Bench as a failure-policy row says (a challenge adds what the operator can do)."""
        seconds = rule.duration(err, self.settings, attended=True)
        until = FOREVER if seconds == float("inf") else self.clock() + seconds
        advice = CHALLENGE_ADVICE if rule.kind == "challenged" else ""
        reason = rule.says.format(err.message) + advice
        self.bench(account, rule.capability(capability), until, rule.kind, reason)

    def bench(self, account: str, capability: str, until: float, kind: str, reason: str) -> None:
        log.warning("account %s benched (%s, %s): %s", alias(account), kind, capability, reason)
        self.store.cool(Cooldown(account, capability, until, kind, reason), self.clock())

    # -- tokens

    def _usable_token(self, record: AccountRecord, now: float) -> str | None:
        """The account's token, refreshed or signed in again first when it is (nearly)
        expired."""
        if record.token and parse(record.token).refresh:
            return self._refreshed(record, None)
        token, exp = record.token, record.token_exp
        if token and (exp is None or exp - now > self.settings.refresh_margin):
            return token
        if record.email and record.password and (fresh := self.refresh(record, token)):
            return fresh
        return token if token and exp is not None and exp > now else None

    def _refreshed(self, record: AccountRecord, stale: str | None) -> str | None:
        """A current access token from the account's refresh token (None: benched)."""
        cred = parse(str(record.token))
        try:
            return self.keeper.access(cred.key, cred, stale)
        except errors.CredentialRevoked as err:
            if record.email and record.password:  # the session ended: sign in again
                return self.refresh(record, record.token, forced=True)
            self._refresh_failed(record.id, err)
        except errors.QwenfreeError as err:
            self._refresh_failed(record.id, err)
        return None

    def _rejected(self, lease: Lease, rule: policy.Rule, err: errors.QwenfreeError) -> None:
        """Refresh first (a refresh token, or a sign-in): one more try; else bench by ``rule``."""
        record = self._record(str(lease.account_id))
        if record is not None and record.token and parse(record.token).refresh:
            if self._refreshed(record, lease.token):
                lease.retry = True  # refreshed after the refusal: one more try
            return
        if record is not None and record.email and record.password:
            if self.refresh(record, lease.token, forced=True):
                lease.retry = True
            return
        self.benched(str(lease.account_id), lease.capability, rule, err)

    def refresh(self, record: AccountRecord, stale: str | None, forced: bool = False) -> str | None:
        """Sign in again, once per account however many requests ask at the same time."""
        with self._flight(record.id):
            current = self._record(record.id)
            if current is None or not (current.email and current.password):
                return None
            if current.token and current.token != stale:
                return current.token  # another request or worker has just signed in
            owner = uuid.uuid4().hex
            if not self.store.lock("signin:" + record.id, owner, self.clock(), SIGNIN_LOCK):
                return self._await_sign_in(record.id, stale)
            try:
                return self._sign_in(current, forced)
            finally:
                self.store.unlock("signin:" + record.id, owner)

    def _sign_in(self, record: AccountRecord, forced: bool) -> str | None:
        try:
            self._space_sign_ins()
            tokens = qwen_auth.sign_in(self.client, str(record.email), str(record.password))
        except errors.QwenfreeError as err:
            self.on_refresh("failed")
            self._sign_in_failed(record.id, err)
            return None
        token, exp = tokens.access, tokens.exp
        if tokens.refresh:  # v2: from now on the account refreshes instead of signing in
            held = f"refresh_token={tokens.refresh}"
            self.keeper.remember(parse(held).key, tokens)
            self.store.set_token(record.id, held, None)
        else:
            self.store.set_token(record.id, token, exp)
        self.store.clear(record.id, ("dead", "signin_failed"))
        self.on_refresh("ok")
        why = "its token was rejected" if forced else "its token expires soon"
        why = why if record.token else "first use"
        log.info("account %s signed in (%s)", alias(record.id), why)
        return token

    def _space_sign_ins(self) -> None:
        """At most one sign-in per ``signin_interval`` across workers: several within seconds
        from one address meet the WAF (§16.4). The gap is a lock left to expire."""
        gap = self.settings.signin_interval
        if gap <= 0:
            return
        owner, step = uuid.uuid4().hex, min(gap, 0.5)
        for _ in range(int(SIGNIN_WAIT / step)):
            if self.store.lock("signin-gap", owner, self.clock(), gap):
                return
            self.sleep(step)
        raise errors.UpstreamUnavailable("other sign-ins are still being spaced out; try again")

    def _refresh_failed(self, account: str, err: errors.QwenfreeError) -> None:
        self.benched(account, "*", policy.rule(err, policy.REFRESH), err)

    def _sign_in_failed(self, account: str, err: errors.QwenfreeError) -> None:
        self.benched(account, "*", policy.rule(err, policy.SIGN_IN), err)

    def _await_sign_in(self, account: str, stale: str | None) -> str | None:
        """Another process is signing this account in: wait for its token."""
        for _ in range(int(SIGNIN_WAIT / POLL)):
            self.sleep(POLL)
            current = self._record(account)
            if current is None:
                return None
            if current.token and current.token != stale:
                return current.token
        return None

    def _flight(self, account: str) -> threading.Lock:
        with self._flights_lock:
            return self._flights.setdefault(account, threading.Lock())
