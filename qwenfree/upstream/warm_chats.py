"""Warm chats: upstream chats created ahead, so a request does not wait for ``chats/new``.

Creating a chat is a whole round trip to the site before the completion can start (100+ ms
from most places). The pool keeps a few chats ready per (credential, model, chat type), leases
one per request and refills in the background. Rules:

* **Sized by demand**: a key keeps as many ready chats as it had leases in the last ``window``
  seconds, at most ``per_key``; a key nobody used lately keeps none, so idle models and
  accounts cost nothing. The first request of a key always creates its own chat.
* **Never shared**: the key holds the credential; a chat is leased once, then belongs to the
  request (and to native continuation, which keeps using it like any other chat).
* **Deleted by the TTL rule**: a ready chat is held in the ``ChatJanitor`` (so it is not
  deleted while waiting, and is deleted on shutdown); one idle for ``max_age`` (the chat TTL)
  is dropped and deleted. With a TTL of 0 (delete at once) the pool is off.
* **Bounded**: one refill at a time per key, at most ``total`` ready chats per worker; a key
  whose refill failed waits ``backoff`` seconds before the next try.

Refills run in threads (greenlets under gunicorn's gevent worker) and call ``create``, which
sends the site's ``chats/new`` with the key's credential; no request's meter sees them.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from qwenfree.chats import ChatJanitor
from qwenfree.errors import QwenfreeError

log = logging.getLogger(__name__)
Key = tuple[str, str, str]  # (credential, model, chat type)
WINDOW = 300.0  # seconds of demand a key's size follows
TOTAL = 256  # ready chats per worker, all keys
BACKOFF = 30.0  # seconds a key waits after a failed refill
KEEP_CHATS = 600.0  # how old a ready chat may get when chats are never deleted (TTL < 0)


def _thread(target: Callable[[], None]) -> None:
    # An empty context: a refill must not be charged to the request that triggered it (its
    # meter travels in a context variable, which gevent's threads may inherit).
    run = contextvars.Context().run
    threading.Thread(target=run, args=(target,), name="warm-chats", daemon=True).start()


@dataclass
class _Slot:
    ready: deque[tuple[str, float]] = field(default_factory=deque)  # (chat id, created at)
    leases: deque[float] = field(default_factory=deque)  # when, within the window
    filling: bool = False
    failed_at: float | None = None


class WarmChats:
    def __init__(
        self,
        create: Callable[[str, str, str], str],
        janitor: ChatJanitor,
        *,
        per_key: int,
        chat_ttl: float,
        window: float = WINDOW,
        total: int = TOTAL,
        backoff: float = BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        spawn: Callable[[Callable[[], None]], None] = _thread,
        report: Callable[[str, int], None] = lambda event, ready: None,
    ) -> None:
        self._create = create
        self._janitor = janitor
        self.per_key = per_key if chat_ttl != 0 else 0
        self.max_age = chat_ttl if chat_ttl > 0 else KEEP_CHATS
        self._window = window
        self._total = total
        self._backoff = backoff
        self._clock = clock
        self._spawn = spawn
        self._report = report  # ("hit" | "miss" | "", chats ready now), for /metrics
        self._lock = threading.Lock()
        self._slots: dict[Key, _Slot] = {}
        self._closed = False
        janitor.on_sweep(self.sweep, closing=self.close)

    @property
    def enabled(self) -> bool:
        return self.per_key > 0

    def lease(self, token: str, model: str, chat_type: str) -> str | None:
        """A ready chat for this key (now the caller's), or None: create one yourself. Either
        way the demand is noted; call ``refill`` once the answer is under way."""
        if not self.enabled:
            return None
        key, now = (token, model, chat_type), self._clock()
        with self._lock:
            slot = self._slots.setdefault(key, _Slot())
            slot.leases.append(now)
            expired = self._expire(slot, now)
            chat_id = slot.ready.popleft()[0] if slot.ready else None
            ready = self._ready()
        self._drop(expired)
        self._report("hit" if chat_id else "miss", ready)
        return chat_id

    def refill(self, token: str, model: str, chat_type: str) -> None:
        """Top the key up to its demand in the background (after the lease's own answer has
        started, so the two never compete for the request's critical path)."""
        if self.enabled:
            self._refill((token, model, chat_type))

    def ready(self) -> int:
        with self._lock:
            return self._ready()

    def sweep(self) -> None:
        """Drop (and delete) ready chats older than ``max_age``, forget keys with no demand."""
        now = self._clock()
        dropped: list[str] = []
        with self._lock:
            for key, slot in list(self._slots.items()):
                dropped += self._expire(slot, now)
                self._trim(slot, now)
                if not slot.ready and not slot.leases and not slot.filling:
                    del self._slots[key]
            ready = self._ready()
        self._drop(dropped)
        self._report("", ready)

    def close(self) -> None:
        """Stop refilling (the janitor's ``close`` calls this, then deletes the chats still
        held; a refill under way when it ran deletes its chat itself)."""
        with self._lock:
            self._closed = True

    # -- inside

    def _target(self, slot: _Slot, now: float) -> int:
        self._trim(slot, now)
        return min(self.per_key, len(slot.leases))

    def _trim(self, slot: _Slot, now: float) -> None:
        while slot.leases and now - slot.leases[0] > self._window:
            slot.leases.popleft()

    def _expire(self, slot: _Slot, now: float) -> list[str]:
        expired = []
        while slot.ready and now - slot.ready[0][1] >= self.max_age:
            expired.append(slot.ready.popleft()[0])
        return expired

    def _ready(self) -> int:
        return sum(len(s.ready) for s in self._slots.values())

    def _drop(self, chats: list[str]) -> None:
        for chat_id in chats:  # deleted by the janitor's sweep (now, when it is sweeping)
            self._janitor.release(chat_id, due=True)

    def _refill(self, key: Key) -> None:
        with self._lock:
            slot = self._slots.get(key)
            if slot is None or slot.filling or self._closed:
                return
            now = self._clock()
            if slot.failed_at is not None and now - slot.failed_at < self._backoff:
                return
            if len(slot.ready) >= self._target(slot, now) or self._ready() >= self._total:
                return
            slot.filling = True
        self._spawn(lambda: self._fill(key, slot))

    def _fill(self, key: Key, slot: _Slot) -> None:
        token, model, chat_type = key
        try:
            while True:
                with self._lock:
                    now = self._clock()
                    full = len(slot.ready) >= self._target(slot, now)
                    if full or self._closed or self._ready() >= self._total:
                        return
                try:
                    chat_id = self._create(token, model, chat_type)
                except QwenfreeError as err:
                    log.warning("could not create a warm chat: %s", err.message)
                    with self._lock:
                        slot.failed_at = self._clock()
                    return
                self._janitor.acquire(chat_id, token)  # held while it waits in the pool
                if self._closed:  # shut down meanwhile: the janitor's last sweep is over
                    self._janitor.release(chat_id, due=True)
                    self._janitor.sweep()
                    return
                with self._lock:
                    slot.ready.append((chat_id, self._clock()))
                    slot.failed_at = None
                    ready = self._ready()
                self._report("", ready)
        except Exception:
            log.warning("warm chat refill failed", exc_info=True)
        finally:
            with self._lock:
                slot.filling = False
