"""The forms a chat.qwen.ai credential comes in, and the keeper that turns one into a current
access token (upstream-chat-qwen-ai.md §16.3).

Forms, as a caller's API key or a server-held account entry:

* an access JWT (``eyJ…``): the browser's ``token``; it now lives about 15 minutes;
* ``refresh_token=<value>``: the long-lived (~300 days) HttpOnly cookie of ``.qwen.ai``;
* a whole browser ``Cookie`` header holding ``refresh_token=`` (and maybe ``token=``, ``cna=``,
  ``x5sec=`` …): the other cookies seed that identity's jar;
* ``email:password`` (server-held only): signs in (``upstream/pool.py``).

The keeper refreshes ahead of ``exp``, one flight per credential, and keeps the newest pair
(refresh tokens rotate) in memory and, when it has a store, under ``cred:<key>`` so a restart or
another worker continues with it. The key is a SHA-256 of the refresh token the caller sends
(or of the whole string when it holds none): the store keys never reveal it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from qwenfree import errors
from qwenfree.store import Store
from qwenfree.upstream import qwen_auth
from qwenfree.upstream.accounts import digest, jwt_exp
from qwenfree.upstream.client import UpstreamClient
from qwenfree.upstream.cookies import parse_header

log = logging.getLogger(__name__)
MAX_REMEMBERED = 4096  # credentials whose current pair a worker keeps in memory
LOCK_TTL = 30.0  # longest one refresh may hold the cross-process lock
LOCK_WAIT = 10.0  # how long a worker waits for another's refresh
POLL = 0.1


@dataclass(frozen=True)
class Credential:
    raw: str = field(repr=False)
    access: str | None = field(default=None, repr=False)
    refresh: str | None = field(default=None, repr=False)
    cookies: str = field(default="", repr=False)  # the rest of a pasted Cookie header

    @property
    def kind(self) -> str:
        if self.cookies:
            return "browser cookies"
        return "refresh token" if self.refresh else "access token"

    @property
    def key(self) -> str:
        """What its refreshed pair is kept under: the refresh token itself when there is one
        (the same token pasted in two forms must not be refreshed twice: a rotated token used
        twice revokes the session), else the whole string."""
        return digest("refresh:" + self.refresh if self.refresh else self.raw)


def parse(raw: str) -> Credential:
    """Read one credential string (never raises: anything else is an access token)."""
    text = raw.strip()
    if "=" not in text or text.startswith("eyJ"):
        return Credential(text, access=text)
    jar = parse_header(text)
    access, refresh = jar.pop("token", None), jar.pop("refresh_token", None)
    if not (access or refresh):
        return Credential(text, access=text)
    rest = "; ".join(f"{k}={v}" for k, v in jar.items())
    return Credential(text, access=access or None, refresh=refresh or None, cookies=rest)


@dataclass
class _Pair:
    access: str | None
    exp: float | None
    refresh: str | None


class TokenKeeper:
    def __init__(
        self,
        client: UpstreamClient,
        auth_url: str,
        ahead: float,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
        on_refresh: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        open_store: Callable[[], Store] | None = None,
    ) -> None:
        self.sleep = sleep
        self.client = client
        self.auth_url = auth_url
        self.ahead = ahead
        self._store = store
        # Opens the store on first need: pass-through callers who send plain access tokens
        # never cause a file to be written.
        self._open_store = open_store
        self.clock = clock
        self.on_refresh = on_refresh or (lambda result: None)
        self._pairs: dict[str, _Pair] = {}
        self._flights: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._seeded: set[str] = set()

    def access(self, key: str, cred: Credential, stale: str | None = None) -> str:
        """A current access token for ``cred``: its own while fresh, else a refreshed one.
        ``stale``: a token the site just refused (refresh even if it looks fresh)."""
        if not cred.refresh:
            if cred.access is None:
                raise errors.UpstreamTokenRejected("the credential holds no token")
            return cred.access
        pair = self._pair(key, cred)
        if self._fresh(pair, stale):
            return str(pair.access)
        with self._flight(key):
            pair = self._pair(key, cred, reread=True)
            if self._fresh(pair, stale):
                return str(pair.access)  # another request refreshed it meanwhile
            fresh = self._across_processes(key, pair, stale)
        self._seed(fresh, cred)
        return fresh

    def refresh_now(self, key: str, cred: Credential) -> str:
        """Refresh even though the access token may look fresh (``make doctor`` exercises the
        endpoint); the result is kept and stored like any refresh, so a rotated refresh token
        reaches the gateway's workers instead of revoking their copy."""
        pair = self._pair(key, cred, reread=True)
        return self.access(key, cred, stale=pair.access or "")

    def _across_processes(self, key: str, pair: _Pair, stale: str | None) -> str:
        """Refresh under the store's lock: a rotated refresh token used twice is revoked."""
        if self.store is None:
            return self._refresh(key, pair)
        owner = uuid.uuid4().hex
        deadline = self.clock() + LOCK_WAIT
        while not self.store.lock("refresh:" + key, owner, self.clock(), LOCK_TTL):
            if self.clock() >= deadline:
                raise errors.UpstreamUnavailable("another worker is still refreshing the token")
            self.sleep(POLL)
            if (done := self._adopt(key, stale)) is not None:
                return done
        try:
            # The lock's previous holder may have refreshed just before we took it.
            if (done := self._adopt(key, stale)) is not None:
                return done
            return self._refresh(key, self._stored(key) or pair)
        finally:
            self.store.unlock("refresh:" + key, owner)

    def _adopt(self, key: str, stale: str | None) -> str | None:
        """Take a fresh pair another worker stored; None when there is none."""
        stored = self._stored(key)
        if stored is None or not self._fresh(stored, stale):
            return None
        with self._lock:
            self._pairs[key] = stored
        return str(stored.access)

    def remember(self, key: str, tokens: qwen_auth.Tokens) -> None:
        """Adopt a pair that a sign-in handed out."""
        pair = _Pair(tokens.access, tokens.exp, tokens.refresh)
        with self._lock:
            self._pairs[key] = pair
        self._save(key, pair)

    @property
    def store(self) -> Store | None:
        if self._store is None and self._open_store is not None:
            opener, self._open_store = self._open_store, None
            try:
                self._store = opener()
            except Exception:  # refreshes still work, only rotation across restarts is lost
                log.warning("could not open the state store for credentials", exc_info=True)
        return self._store

    def exp(self, key: str) -> float | None:
        """When the credential's current access token expires (None: unknown or not held)."""
        pair = self._pairs.get(key)
        return pair.exp if pair else None

    def _fresh(self, pair: _Pair, stale: str | None) -> bool:
        if not pair.access or pair.access == stale:
            return False
        return pair.exp is None or pair.exp - self.clock() > self.ahead

    def _pair(self, key: str, cred: Credential, reread: bool = False) -> _Pair:
        with self._lock:
            pair = self._pairs.get(key)
        if pair is not None and not reread:
            return pair
        stored = self._stored(key)
        if stored is not None and (pair is None or stored.refresh != pair.refresh):
            pair = stored  # another worker (or a previous run) rotated it
        if pair is None:
            access = cred.access
            pair = _Pair(access, jwt_exp(access) if access else None, cred.refresh)
        with self._lock:
            if len(self._pairs) >= MAX_REMEMBERED and key not in self._pairs:
                self._pairs.pop(next(iter(self._pairs)))
            self._pairs[key] = pair
        return pair

    def _refresh(self, key: str, pair: _Pair) -> str:
        try:
            tokens = qwen_auth.refresh(self.client, self.auth_url, str(pair.refresh))
        except errors.UpstreamTokenRejected as err:
            self.on_refresh("revoked")
            raise errors.CredentialRevoked(
                f"chat.qwen.ai refused the refresh token ({err.message}): the session was "
                "signed out or expired. Sign in at chat.qwen.ai and copy a fresh refresh_token "
                "cookie"
            ) from None
        except errors.QwenfreeError:
            self.on_refresh("failed")
            raise
        self.on_refresh("ok")
        new = _Pair(tokens.access, tokens.exp, tokens.refresh or pair.refresh)
        with self._lock:
            self._pairs[key] = new
        if new.refresh != pair.refresh:
            log.info("refresh token rotated for credential %s", key[:6])
        self._save(key, new)
        return tokens.access

    def _stored(self, key: str) -> _Pair | None:
        if self.store is None:
            return None
        marks = self.store.usage("cred:" + key).get("", {})
        refresh = marks.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            return None
        access = marks.get("access_token")
        access = access if isinstance(access, str) and access else None
        return _Pair(access, jwt_exp(access) if access else None, refresh)

    def _save(self, key: str, pair: _Pair) -> None:
        if self.store is None:
            return
        marks = {"refresh_token": pair.refresh or "", "access_token": pair.access or ""}
        try:
            self.store.bump("cred:" + key, {}, marks | {"refreshed_at": self.clock()})
        except Exception:  # the pair still works in memory; a restart will refresh again
            log.warning("could not persist a refreshed credential", exc_info=True)

    def _seed(self, access: str, cred: Credential) -> None:
        if cred.cookies and cred.key not in self._seeded:
            if len(self._seeded) >= MAX_REMEMBERED:
                self._seeded.clear()  # at worst a jar is seeded again
            self._seeded.add(cred.key)
            self.client.cookies.seed(self.client.site.identity(access), cred.cookies)  # type: ignore[misc]

    def _flight(self, key: str) -> threading.Lock:
        with self._lock:
            if len(self._flights) >= MAX_REMEMBERED and key not in self._flights:
                # Junk credentials must not grow this for ever; a held lock stays.
                for stale in [k for k, lock in self._flights.items() if not lock.locked()]:
                    del self._flights[stale]
            return self._flights.setdefault(key, threading.Lock())
