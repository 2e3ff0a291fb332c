"""Upstream chat housekeeping: chats this service creates are deleted once idle for the TTL.

The web chat keeps every conversation in the user's history; deleting ours after ``chat_ttl``
idle seconds leaves no trace while still allowing native continuation in the meantime.
``chat_ttl`` 0 deletes as soon as an answer ends; a negative TTL keeps chats.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from qwenfree.errors import QwenfreeError

log = logging.getLogger(__name__)


@dataclass
class _Chat:
    token: str
    last_used: float
    in_use: int = 0


class ChatJanitor:
    """Deletes idle chats with ``delete(chat_id, token)``. The app's janitor is built before
    the backends that delete (they hold it), so it is given their ``delete_chat`` afterwards
    with :meth:`delete_with`, before any chat is handed to it."""

    def __init__(
        self,
        delete: Callable[[str, str], None] | None,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._delete = delete
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._chats: dict[str, _Chat] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._hooks: list[Callable[[], None]] = []  # run at every sweep (warm chats expire)
        self._closing: list[Callable[[], None]] = []  # run first in close (warm chats stop)

    def delete_with(self, delete: Callable[[str, str], None]) -> None:
        """Name the function that deletes a chat (the backends', once they exist)."""
        self._delete = delete

    def on_sweep(self, hook: Callable[[], None], closing: Callable[[], None] | None = None) -> None:
        self._hooks.append(hook)
        if closing is not None:
            self._closing.append(closing)

    def acquire(self, chat_id: str, token: str) -> None:
        """Mark a chat busy (an answer is streaming in it)."""
        if self._ttl < 0:
            return
        if self._delete is None:  # a wiring mistake: fail the first chat, not the sweep
            raise RuntimeError("ChatJanitor.delete_with was never called")
        with self._lock:
            chat = self._chats.setdefault(chat_id, _Chat(token, self._clock()))
            chat.in_use += 1
            chat.last_used = self._clock()
        self._ensure_thread()

    def release(self, chat_id: str, *, due: bool = False) -> None:
        """Mark an answer finished; the idle clock starts now. ``due``: the chat has been idle
        for the TTL already (a warm chat nobody leased): the next sweep deletes it, one call
        after another in the janitor's thread."""
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                return
            chat.in_use -= 1
            chat.last_used = self._clock() - (self._ttl if due else 0.0)
            gone = self._ttl == 0 and chat.in_use <= 0
            if gone:
                del self._chats[chat_id]
        if gone:
            threading.Thread(
                target=self._delete_quietly, args=(chat_id, chat.token), daemon=True
            ).start()

    def pending(self) -> int:
        with self._lock:
            return len(self._chats)

    def sweep(self) -> int:
        """Delete every chat idle for the TTL; return how many."""
        for hook in self._hooks:
            hook()
        now = self._clock()
        with self._lock:
            due = [
                (cid, c.token)
                for cid, c in self._chats.items()
                if c.in_use <= 0 and now - c.last_used >= self._ttl
            ]
            for cid, _ in due:
                del self._chats[cid]
        for cid, token in due:
            self._delete_quietly(cid, token)
        return len(due)

    def close(self) -> None:
        """Stop sweeping and delete what is left (on shutdown no chat is orphaned)."""
        for hook in self._closing:
            hook()
        self._stop.set()
        with self._lock:
            left = [(cid, c.token) for cid, c in self._chats.items()]
            self._chats.clear()
        for cid, token in left:
            self._delete_quietly(cid, token)

    def _ensure_thread(self) -> None:
        if self._ttl <= 0 or self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="chat-janitor", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        interval = max(0.05, min(self._ttl / 2, 30.0))
        while not self._stop.wait(interval):
            self.sweep()

    def _delete_quietly(self, chat_id: str, token: str) -> None:
        try:
            self._delete(chat_id, token)  # type: ignore[misc]  # set before any acquire
        except QwenfreeError as err:  # best effort: a chat left behind is untidy, not harmful
            log.warning("could not delete upstream chat %s: %s", chat_id, err.message)
        except Exception:
            log.warning("could not delete upstream chat %s", chat_id, exc_info=True)
