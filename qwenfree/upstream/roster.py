"""Roster: the operator's verbs on the account pool (the admin API): add, remove, sign in again,
check. Every change goes through the store, so every worker and instance sees it at once."""

from __future__ import annotations

import dataclasses

from qwenfree import errors
from qwenfree.store import FOREVER, AccountRecord
from qwenfree.upstream.account_tokens import sign_in
from qwenfree.upstream.accounts import AccountSpec, jwt_exp, mask_email
from qwenfree.upstream.cookies import parse_header
from qwenfree.upstream.credentials import parse
from qwenfree.upstream.pool import AccountPool, AccountState

LIFTED_BY_OPERATOR = ("dead", "failing", "signin_failed")  # what a fresh credential ends


class Roster:
    def __init__(self, pool: AccountPool) -> None:
        self.pool = pool

    def find(self, account_id: str) -> AccountState:
        for s in self.pool.states():
            if s.record.id == account_id:
                return s
        raise errors.NotFound(f"No account '{account_id}'")

    def add(self, spec: AccountSpec) -> AccountState:
        """Store a new (or replacement) account once its credential proves good."""
        now = self.pool.clock()
        if spec.email and spec.password:
            token = self._sign_in(spec.email, spec.password)
        else:
            token = str(spec.token)
            exp = jwt_exp(token)
            if exp is not None and exp <= now:
                raise errors.InvalidRequest("This token has already expired", param="token")
            if not self._live(token):
                raise errors.InvalidRequest(
                    "chat.qwen.ai rejects this credential (an access token copied from the "
                    "browser lives about 15 minutes: add the refresh_token cookie instead)",
                    param="token",
                )
        record = AccountRecord(
            spec.id, spec.email, spec.password, token, jwt_exp(token), "admin", now
        )
        self.pool.store.put_account(record)
        self.pool.store.clear(record.id, LIFTED_BY_OPERATOR)
        return self.find(record.id)

    def set_cookie(self, account_id: str, cookie: str) -> AccountState:
        """Keep a browser's Cookie header for the account (every worker sends its cookies from
        the next request on); one holding a refresh_token also becomes the account's lasting
        credential unless it signs in with a password. Lifts a challenge cooldown."""
        record = self.find(account_id).record
        jar = parse_header(cookie)
        if not jar:
            raise errors.InvalidRequest(
                "Send the Cookie header as 'name=value; ...'", param="cookie"
            )
        refresh = jar.get("refresh_token")
        if refresh and not (record.email and record.password):
            self.pool.store.put_account(dataclasses.replace(record, token=cookie, token_exp=None))
        self.pool.store.bump(
            "account:" + account_id, {}, {"cookie": cookie, "cookie_set_at": self.pool.clock()}
        )
        self.pool.store.clear(account_id, ("challenged", *LIFTED_BY_OPERATOR))
        return self.find(account_id)

    def remove(self, account_id: str) -> None:
        if not self.pool.store.remove_account(account_id):
            raise errors.NotFound(f"No account '{account_id}'")

    def refresh(self, account_id: str) -> AccountState:
        """Sign in again now (accounts with a password); a refused sign-in benches it."""
        record = self.find(account_id).record
        if not (record.email and record.password):
            raise errors.InvalidRequest(
                "This account has no password to sign in with; add a fresh token instead"
            )
        self.pool.refresh(record, record.token, forced=True)
        return self.find(account_id)

    def check(self, account_id: str) -> tuple[bool, AccountState]:
        """Ask chat.qwen.ai whether the token works; revive or bench the account by the answer."""
        record = self.find(account_id).record
        live = bool(record.token) and self._live(str(record.token))
        if live:
            self.pool.store.clear(account_id, LIFTED_BY_OPERATOR)
        elif record.email and record.password:
            live = self.pool.refresh(record, record.token, forced=True) is not None
        else:
            reason = "the check found the token rejected; add a fresh token"
            self.pool.store.clear(account_id, ("failing",))
            self.pool.bench(account_id, "*", FOREVER, "dead", reason)
        return live, self.find(account_id)

    def _live(self, token: str) -> bool:
        """Does chat.qwen.ai accept the credential (refreshing it first when it is a refresh
        token)? Other failures (an anti-bot page, an outage) prove nothing and are raised."""
        try:
            cred = parse(token)
            access = self.pool.keeper.access(cred.key, cred)
            me = self.pool.client.json("GET", "/api/v1/auths/", access)
        except errors.UpstreamTokenRejected:
            return False
        return isinstance(me, dict) and me.get("role") in ("user", "admin")

    def _sign_in(self, email: str, password: str) -> str:
        try:
            return sign_in(self.pool.client, email, password)
        except (errors.UpstreamRejected, errors.UpstreamTokenRejected) as err:
            raise errors.InvalidRequest(
                f"chat.qwen.ai refused the sign-in for {mask_email(email)} ({err.message})",
                param="password",
            ) from None
