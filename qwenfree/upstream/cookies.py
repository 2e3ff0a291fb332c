"""A cookie jar per upstream identity (an account, or a caller's credential), bounded.

A browser sends back what the site set (``acw_tc``, ``x-ap``, …) and the WAF notices a client
that does not (upstream-chat-qwen-ai.md §16.1). The requests Session's own jar is shared by
every credential of a worker, which would carry one account's cookies on another account's
calls, so it stays disabled and cookies live here, keyed by identity. Operators may also seed a
jar with a browser's ``Cookie`` header (``cna``, ``x5sec`` after a solved captcha, …).

Cookie values are secrets: nothing here logs them, and ``names()`` is all that is shown.
"""

from __future__ import annotations

import calendar
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from http.cookies import CookieError, SimpleCookie

MAX_JARS = 2048  # identities kept per worker (least recently used dropped first)
MAX_COOKIES = 40  # per jar
MAX_VALUE = 4096  # bytes; a larger cookie is not kept
# Credentials travel in their own headers; a jar never overrides them.
RESERVED = frozenset({"token", "refresh_token"})


class CookieJars:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # identity -> name -> (value, expires or None)
        self._jars: OrderedDict[str, dict[str, tuple[str, float | None]]] = OrderedDict()

    def header(self, identity: str) -> str:
        """``a=1; b=2`` for the identity's live cookies ("" when there are none)."""
        now = self._clock()
        with self._lock:
            jar = self._jars.get(identity)
            if not jar:
                return ""
            self._jars.move_to_end(identity)
            for name in [n for n, (_, exp) in jar.items() if exp is not None and exp <= now]:
                del jar[name]
            return "; ".join(f"{n}={v}" for n, (v, _) in jar.items())

    def keep(self, identity: str, set_cookies: Iterable[str]) -> None:
        """Remember what ``Set-Cookie`` headers set (and forget what they expire)."""
        now = self._clock()
        for line in set_cookies:
            parsed = SimpleCookie()
            try:
                parsed.load(line)
            except CookieError:
                continue  # a malformed cookie is dropped, as a browser would
            for name, morsel in parsed.items():
                self._put(identity, name, morsel.value, _expiry(morsel, now), now)

    def seed(self, identity: str, cookie_header: str) -> None:
        """Add the cookies of a pasted browser ``Cookie`` header (session cookies)."""
        now = self._clock()
        for name, value in parse_header(cookie_header).items():
            self._put(identity, name, value, None, now)

    def names(self, identity: str) -> list[str]:
        with self._lock:
            return sorted(self._jars.get(identity, {}))

    def _put(self, identity: str, name: str, value: str, exp: float | None, now: float) -> None:
        if name in RESERVED or len(value) > MAX_VALUE:
            return
        with self._lock:
            jar = self._jars.setdefault(identity, {})
            self._jars.move_to_end(identity)
            if exp is not None and exp <= now:
                jar.pop(name, None)
            elif name in jar or len(jar) < MAX_COOKIES:
                jar[name] = (value, exp)
            while len(self._jars) > MAX_JARS:
                self._jars.popitem(last=False)


def parse_header(cookie_header: str) -> dict[str, str]:
    """``a=1; b=2`` -> {"a": "1", "b": "2"}; pieces without ``=`` are ignored."""
    out: dict[str, str] = {}
    for piece in cookie_header.split(";"):
        name, sep, value = piece.strip().partition("=")
        if sep and name and _token(name):
            out[name] = value.strip().strip('"')
    return out


def _token(name: str) -> bool:
    return all(33 <= ord(c) < 127 and c not in '()<>@,;:\\"/[]?={}' for c in name)


def _expiry(morsel: object, now: float) -> float | None:
    max_age = morsel["max-age"]  # type: ignore[index]
    if max_age:
        try:
            return now + int(max_age)
        except ValueError:
            return None
    expires = morsel["expires"]  # type: ignore[index]
    if expires:
        try:
            return calendar.timegm(time.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT"))
        except ValueError:
            return None
    return None
