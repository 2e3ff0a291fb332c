"""Upstream credentials: what a request runs on, and how failures bench it.

Two routers share one interface (``leases``, ``report``, ``succeeded``), so the chat service has
one code path:

* :class:`qwenfree.upstream.passthrough.ClientTokens` (no ``QWENFREE_API_KEYS``): credentials
  come from the caller (``Authorization: Bearer T1,T2``), ordered by :class:`TokenHealth`. A
  token that hit a hard limit (rate limit, rejection, anti-bot challenge) is skipped until its
  cooldown ends; one that merely failed (5xx, timeout, empty answer) is tried last for a while.
* :class:`qwenfree.upstream.pool.AccountPool`: accounts held by the server, state in a store.

This module also reads account lists (``QWENFREE_ACCOUNTS``) and JWT expiry claims.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from qwenfree import errors

if TYPE_CHECKING:
    from qwenfree.upstream.turn import Handle


def fingerprint(token: str) -> str:
    """A short stable id for a token that reveals nothing usable: for display and for the ids we
    hand out in pass-through mode (continuation handles). 40 bits can be collided on purpose, so
    it never keys anything a credential owns: that is ``digest``."""
    return hashlib.sha256(token.encode()).hexdigest()[:10]


def digest(token: str) -> str:
    """The key of what belongs to a credential (its refreshed tokens, cooldowns, cookie jar,
    uploads): the whole SHA-256, which nobody can collide with on purpose."""
    return hashlib.sha256(token.encode()).hexdigest()


def bind(seal: str, tokens: Sequence[str], chat_id: str, response_id: str) -> str:
    """The last part of a handle issued with server-held accounts: ties the chat to the caller's
    key and to the account (``seal``: the account's ``digest``, never shown), so another key,
    or a made-up id, names no account. 64 bits: guessing one means that many requests."""
    caller = digest(",".join(tokens))
    message = f"{caller}\n{chat_id}.{response_id}".encode()
    return hmac.new(seal.encode(), message, hashlib.sha256).hexdigest()[:16]


def mask(token: str) -> str:
    """Show at most the last four characters of a secret."""
    return "…" + token[-4:] if len(token) > 8 else "…"


class TokenHealth:
    """Cooldowns of the caller's credentials (pass-through), per worker, in memory: hard ones
    per capability (``*``: every capability), soft ones per credential."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hard: dict[tuple[str, str], float] = {}  # (digest, capability) -> cooling until
        self._soft: dict[str, float] = {}  # digest -> tried last until
        self._refused: set[str] = set()  # hard-cooled because the site refused them
        self._turn = itertools.count()

    def order(self, tokens: Sequence[str], capability: str = "*") -> list[str]:
        """Tokens to try, round-robin, healthy first; raise when all are in a hard cooldown."""
        now = self._clock()
        start = next(self._turn) % len(tokens)
        rotated = list(tokens[start:]) + list(tokens[:start])
        with self._lock:
            until = {t: self._until(digest(t), capability) for t in rotated}
            usable = [t for t in rotated if until[t] <= now]
            if not usable:
                if all(digest(t) in self._refused for t in tokens):
                    raise errors.Unauthorized(
                        "chat.qwen.ai refused the credential minutes ago; send a fresh one "
                        "(the refresh_token cookie lasts: see /token/check)"
                    )
                raise errors.NoTokenAvailable(
                    "Every upstream token is cooling down after a rate limit or rejection",
                    retry_after=max(1.0, min(until.values()) - now),
                )
            usable.sort(key=lambda t: self._soft.get(digest(t), 0.0) > now)
        return usable

    def _until(self, key: str, capability: str) -> float:
        return max(self._hard.get((key, "*"), 0.0), self._hard.get((key, capability), 0.0))

    def cool(
        self,
        token: str,
        seconds: float,
        *,
        hard: bool,
        refused: bool = False,
        capability: str = "*",
    ) -> None:
        """Bench a token for ``seconds`` (hard: skipped, for ``capability`` or every one;
        soft: tried last; refused: the site said it is not valid, which is the caller's to
        fix)."""
        now, key = self._clock(), digest(token)
        with self._lock:
            # Keep the tables as small as the set of sick tokens.
            for gone in [k for k, end in self._hard.items() if end <= now]:
                del self._hard[gone]
                if gone[1] == "*":
                    self._refused.discard(gone[0])
            for gone_key in [k for k, end in self._soft.items() if end <= now]:
                del self._soft[gone_key]
            if hard:
                self._hard[(key, capability)] = now + seconds
            else:
                self._soft[key] = now + seconds
            (self._refused.add if refused else self._refused.discard)(key)

    def recover(self, token: str) -> None:
        """Forget a token's soft failures after it served an answer."""
        with self._lock:
            self._soft.pop(digest(token), None)


@dataclass(eq=False)
class Lease:
    """One try on one credential; ``release()`` frees its concurrency slot (idempotent)."""

    token: str = field(repr=False)
    alias: str  # safe to log: an opaque account id or the token's last four characters
    capability: str = "t2t"
    account_id: str | None = None  # None for a caller's token
    retry: bool = False  # set by report(): the same account may be tried once more
    soft: bool = False  # set by report(): the failure did not bench the account
    failing: bool = False  # the account was on probation (recent soft failures) when leased
    credential: str | None = field(default=None, repr=False)  # what the caller sent (pass-through)
    refreshed: bool = False  # its token was refreshed after a refusal: no second refresh
    rejected: bool = False  # set by report(): the site refused the credential
    seal: str | None = field(default=None, repr=False)  # a server account's key for ``bind``
    _release: Callable[[], None] | None = None

    @property
    def fp(self) -> str:
        """Which credential this is, stable while its access token is refreshed: continuation
        handles and video ids name it."""
        return fingerprint(self.credential or self.token)

    @property
    def owner(self) -> str:
        """What ``Router.owner`` names: the server account's id, or the caller's credential's
        fingerprint."""
        return self.account_id or self.fp

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()


class Router(Protocol):
    """Where a request's upstream credentials come from, and what failures do to them."""

    def catalog_token(self, tokens: Sequence[str]) -> str | None:
        """The credential to list models with (raise Unauthorized when there is none)."""

    def leases(
        self, tokens: Sequence[str], capability: str, prefer: str | None = None
    ) -> Iterator[Lease]:
        """Credentials to try in turn; ``prefer`` (an ``owner``) is the one to try first."""

    def tag(self, lease: Lease, tokens: Sequence[str], chat_id: str, response_id: str) -> str:
        """The last part of the handle issued for this answer (a chat or a video task)."""

    def owner(self, handle: Handle, tokens: Sequence[str]) -> str | None:
        """Which of this caller's credentials the handle's chat lives on (``Lease.owner``);
        None when it is none of them."""

    def report(self, lease: Lease, err: errors.QwenfreeError) -> None: ...

    def succeeded(self, lease: Lease) -> None: ...


# --------------------------------------------------------------------------- account lists


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """One configured account: a bare token, or an email and password (and maybe a token)."""

    email: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        """Stable id: from the email (survives token refreshes) or else from the token."""
        basis = "email:" + self.email.lower() if self.email else "token:" + (self.token or "")
        return hashlib.sha256(basis.encode()).hexdigest()[:12]


def parse_accounts(text: str, *, one_per_line: bool = False) -> list[AccountSpec]:
    """Read ``token`` and ``email:password`` entries, comma- or newline-separated (files: one
    per line, so passwords may hold commas; ``#`` starts a comment line)."""
    lines = text.splitlines() if one_per_line else text.replace(",", "\n").splitlines()
    specs: dict[str, AccountSpec] = {}
    for line in lines:
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        spec = _entry(entry)
        specs[spec.id] = spec  # a repeated entry counts once; the last one wins
    return list(specs.values())


def _entry(entry: str) -> AccountSpec:
    if "refresh_token=" in entry or entry.startswith("token="):
        return AccountSpec(token=entry)  # a refresh token or a browser Cookie header
    email, sep, password = entry.partition(":")
    if sep and "@" in email:
        if not password:
            raise ValueError(f"account {mask_email(email)!r} has an empty password")
        return AccountSpec(email=email.strip(), password=password)
    if any(c.isspace() for c in entry) or ":" in entry:
        raise ValueError("an account entry is neither a token nor 'email:password'")
    return AccountSpec(token=entry)


def jwt_claim(token: str, name: str) -> object:
    """One claim of a JWT-shaped token (the signature is not checked: we only read what the
    site will do with it); None when there is none."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 8192:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    return payload.get(name) if isinstance(payload, dict) else None


def jwt_exp(token: str) -> float | None:
    """The ``exp`` claim: when chat.qwen.ai will stop accepting the token; None if unknown."""
    exp = jwt_claim(token, "exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def mask_email(email: str) -> str:
    """``de***@example.com``: enough for an operator to recognise their own account."""
    name, _, domain = email.partition("@")
    return f"{name[:2]}***@{domain}" if domain else "***"
