"""Token health: which upstream tokens to try, in what order, and which are cooling down.

Tokens come from the caller (``Authorization: Bearer T1,T2``). A token that hit a hard limit
(rate limit, rejection, anti-bot challenge) is skipped until its cooldown ends; one that merely
failed (5xx, timeout, empty answer) is tried last for a while. State is per worker process.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Sequence

from qwenfree import errors


def fingerprint(token: str) -> str:
    """A short stable id for a token that reveals nothing usable."""
    return hashlib.sha256(token.encode()).hexdigest()[:10]


def mask(token: str) -> str:
    """Show at most the last four characters of a secret."""
    return "…" + token[-4:] if len(token) > 8 else "…"


class TokenHealth:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._hard: dict[str, float] = {}  # fingerprint -> cooling until
        self._soft: dict[str, float] = {}
        self._turn = itertools.count()

    def order(self, tokens: Sequence[str]) -> list[str]:
        """Tokens to try, round-robin, healthy first; raise when all are in a hard cooldown."""
        now = self._clock()
        start = next(self._turn) % len(tokens)
        rotated = list(tokens[start:]) + list(tokens[:start])
        with self._lock:
            usable = [t for t in rotated if self._hard.get(fingerprint(t), 0.0) <= now]
            if not usable:
                wait = min(self._hard[fingerprint(t)] for t in tokens) - now
                raise errors.NoTokenAvailable(
                    "Every upstream token is cooling down after a rate limit or rejection",
                    retry_after=max(1.0, wait),
                )
            usable.sort(key=lambda t: self._soft.get(fingerprint(t), 0.0) > now)
        return usable

    def cool(self, token: str, seconds: float, *, hard: bool) -> None:
        """Bench a token for ``seconds`` (hard: skipped; soft: tried last)."""
        now = self._clock()
        with self._lock:
            table = self._hard if hard else self._soft
            for key in [k for k, until in table.items() if until <= now]:
                del table[key]  # keep the tables as small as the set of sick tokens
            table[fingerprint(token)] = now + seconds

    def recover(self, token: str) -> None:
        """Forget a token's soft failures after it served an answer."""
        with self._lock:
            self._soft.pop(fingerprint(token), None)
