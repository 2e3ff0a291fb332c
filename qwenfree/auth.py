"""Caller keys and per-key rate limits (server-account mode).

With ``QWENFREE_API_KEYS`` set, every API request must carry one of them, the way its SDK sends
keys: ``Authorization: Bearer``, ``x-api-key`` (Anthropic), ``x-goog-api-key`` or ``?key=``
(Google). Keys are compared in constant time. The admin key (``QWENFREE_ADMIN_KEY``) opens the
admin API only and is refused here; caller keys never open the admin API.

The rate limit is a fixed window per key, counted in the store, so every worker and (with
Redis) every instance shares one count. Only requests that reach the upstream are counted:
token counting and model listing are free. Without keys nothing here applies.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Callable

from flask import request

from qwenfree import errors
from qwenfree.settings import Settings
from qwenfree.store import Store
from qwenfree.upstream.accounts import fingerprint

UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
UNIT_ALIASES = {"s": "second", "sec": "second", "m": "minute", "min": "minute", "h": "hour"}
LIMIT = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d*)\s*([a-z]+?)s?\s*", re.IGNORECASE)
FREE_SUFFIXES = ("/count_tokens", ":countTokens")  # no upstream call behind them


class Keys:
    """The configured caller keys and the admin key."""

    def __init__(self, settings: Settings) -> None:
        self._user = split_keys(settings.api_keys)
        self._admin = settings.admin_key.strip()
        if self._admin and self._admin in self._user:
            raise ValueError("QWENFREE_ADMIN_KEY must differ from every QWENFREE_API_KEYS entry")
        if self._admin and not self._user:
            raise ValueError(
                "QWENFREE_ADMIN_KEY needs QWENFREE_API_KEYS: the admin API manages the accounts "
                "that callers with those keys use"
            )
        if (settings.accounts or settings.accounts_file) and not self._user:
            raise ValueError(
                "QWENFREE_ACCOUNTS needs QWENFREE_API_KEYS: without caller keys anyone who can "
                "reach the gateway could spend the accounts"
            )

    @property
    def enabled(self) -> bool:
        """Server-account mode: callers present our keys, not upstream tokens."""
        return bool(self._user)

    @property
    def admin_enabled(self) -> bool:
        return bool(self._admin)

    def user(self, presented: str) -> str | None:
        """The fingerprint of the caller key ``presented`` matches, else None."""
        match = None
        for key in self._user:  # no early exit: the time taken does not depend on which key
            if _same(presented, key):
                match = key
        return fingerprint(match) if match is not None else None

    def admin(self, presented: str) -> bool:
        return bool(self._admin) and _same(presented, self._admin)

    def listed(self) -> list[tuple[str, str]]:
        """(fingerprint, last four characters) of every caller key, for the admin page."""
        return [(fingerprint(k), k[-4:] if len(k) > 8 else "") for k in self._user]


def split_keys(text: str) -> list[str]:
    return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]


def _same(presented: str, key: str) -> bool:
    return hmac.compare_digest(presented.encode(), key.encode())


def presented_key(*, in_query: bool = True) -> str:
    """The key on this request, from the first place an SDK puts one. ``in_query=False``
    ignores ``?key=`` (Google's SDKs' habit), which access logs and browser history keep."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (
        request.headers.get("x-api-key")
        or request.headers.get("x-goog-api-key")
        or (request.args.get("key") if in_query else None)
        or ""
    ).strip()


def require_user(keys: Keys) -> str:
    """The caller's key fingerprint, or the dialect's 401."""
    presented = presented_key()
    key_id = keys.user(presented) if presented else None
    if key_id is None:
        hint = "Missing API key" if not presented else "Invalid API key"
        raise errors.Unauthorized(
            f"{hint}: send one of this gateway's keys ('Authorization: Bearer <key>', "
            "'x-api-key', 'x-goog-api-key' or '?key=')"
        )
    return key_id


def require_admin(keys: Keys) -> None:
    """The admin key, in a header only: it opens every account, so it must not be written
    into URLs."""
    if not keys.admin(presented_key(in_query=False)):
        raise errors.Unauthorized(
            "This needs the admin key (QWENFREE_ADMIN_KEY) in 'Authorization: Bearer' or "
            "'x-api-key'"
        )


class RateLimit:
    """``limit`` requests per ``window`` seconds per key, shared through the store."""

    def __init__(self, spec: str, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.spec = spec.strip()
        self.limit, self.window = parse_rate(self.spec)
        self.store = store
        self.clock = clock

    def check(self, key_id: str) -> None:
        """Count one request; raise the dialect's 429 past the limit."""
        if request.method != "POST" or request.path.endswith(FREE_SUFFIXES):
            return
        now = self.clock()
        index = int(now // self.window)
        ends = (index + 1) * self.window
        count = self.store.hit(f"{key_id}:{self.window:g}:{index}", now, ends)
        if count > self.limit:
            raise errors.KeyRateLimited(
                f"Rate limit reached for this API key ({self.spec})", retry_after=ends - now
            )


def parse_rate(spec: str) -> tuple[int, float]:
    """``60/minute``, ``10 per second``, ``1000/hour``, ``100/5minutes`` -> (count, seconds)."""
    found = LIMIT.fullmatch(spec)
    unit = found and UNIT_ALIASES.get(found[3].lower(), found[3].lower())
    if not found or unit not in UNITS or int(found[1]) < 1:
        raise ValueError(f"QWENFREE_RATE_LIMIT: expected e.g. '60/minute', got {spec!r}")
    return int(found[1]), UNITS[unit] * int(found[2] or 1)
