"""The fake chat.qwen.ai for the soak: tests/fake_upstream.py, choosing each completion's script
from the case named in its prompt (``soak:<case>:<n>``) instead of a shared queue, so that
concurrent requests cannot take each other's scripts."""

from __future__ import annotations

import re
import threading
from typing import Any

from soak.traffic import BY_NAME
from tests import fake_upstream as fu

MARKER = re.compile(r"soak:([a-z0-9-]+):\d+")


class SoakUpstream(fu.FakeUpstream):
    def __init__(self) -> None:
        super().__init__()
        self._pick = threading.Lock()

    def _completion(self, req: fu.Recorded, m: re.Match[str]) -> Any:
        found = MARKER.search(req.body.decode("utf-8", "replace"))
        case = BY_NAME.get(found[1]) if found else None
        with self._pick:  # queue and take the script in one step
            if case is not None:
                self.enqueue(case.script())
            reply = super()._completion(req, m)
            while self._pop(fu.COMPLETIONS) is not None:  # a refused request left it queued
                pass
        return reply

    def forget(self) -> None:
        """Drop recorded requests and finished chats, so the fake's own memory stays flat."""
        with self._lock:
            self.requests.clear()
            self.chats = {k: c for k, c in self.chats.items() if not c.deleted}
            self.deleted_chats.clear()
