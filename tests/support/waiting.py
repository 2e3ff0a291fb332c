"""The one wait loop of the tests: poll a condition until it holds or a deadline passes.

Tests wait on things another thread or process does (a server that boots, a stream the fake
sees closed); for time the code measures itself, inject a clock instead of waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.005
) -> bool:
    """Poll ``predicate`` until it is truthy (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
