"""Meter: what one API request did, filled in as it runs and read once when it ends.

The web layer opens a meter for each dialect request; the view hands it to the chat service
(``ChatService.stream(..., metered)``), which notes the model, the account and the tokens; the
upstream client adds the time it spent waiting on chat.qwen.ai. From that the access log,
``/metrics`` and the ``x-qwenfree-overhead-ms`` header are made.

The current meter travels in a context variable: each request runs in its own thread or
greenlet, whose context starts empty, so meters never mix. Code that runs elsewhere (the
heartbeat pump, the chat janitor) sees no meter, so what outlives the request keeps a reference
(the service's stream, the access log's fields).
Pure values, no Flask, no Prometheus.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_CURRENT: contextvars.ContextVar[Meter | None] = contextvars.ContextVar(
    "qwenfree_meter", default=None
)


def current() -> Meter | None:
    """The meter of the request running here, if any."""
    return _CURRENT.get()


def use(meter: Meter | None) -> None:
    """Make ``meter`` the current one for this request."""
    _CURRENT.set(meter)


@dataclass
class Meter:
    dialect: str
    started: float = field(default_factory=time.perf_counter)
    stream: bool = False
    model: str = ""  # the upstream model that answered ("" before it was resolved)
    account: str = ""  # alias of the account or masked token that served
    key_id: str = ""  # the caller's API key fingerprint (server-account mode)
    attempts: int = 0  # upstream tries (more than one: retried on another account)
    upstream_wait: float = 0.0  # seconds spent waiting on the upstream, so far
    first_event: float | None = None  # perf_counter when the answer's first event was ready
    wait_before_first: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    upstream_errors: list[str] = field(default_factory=list)  # kinds, one per failed try
    # Called once when the request ends, with the meter and the access-log fields; returns
    # extra log fields. Set by the app (metrics, per-key usage).
    sink: Callable[[Meter, dict[str, Any]], dict[str, Any]] | None = None

    def waited(self, seconds: float) -> None:
        self.upstream_wait += seconds

    def answer_started(self) -> None:
        if self.first_event is None:
            self.first_event = time.perf_counter()
            self.wait_before_first = self.upstream_wait

    def ttfb(self) -> float | None:
        """Seconds from the request to the answer's first event."""
        return None if self.first_event is None else self.first_event - self.started

    def overhead(self, now: float | None = None) -> float:
        """Our own seconds: elapsed time not spent waiting on the upstream. For a stream, up
        to its first event (what follows is paced by the upstream)."""
        if self.stream and self.first_event is not None:
            end, wait = self.first_event, self.wait_before_first
        else:
            end, wait = (time.perf_counter() if now is None else now), self.upstream_wait
        return max(0.0, end - self.started - wait)

    def close(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Hand the finished request to the sink once; return what the log line adds."""
        sink, self.sink = self.sink, None
        extra: dict[str, Any] = {"model": self.model or None, "account": self.account or None}
        ttfb = self.ttfb()
        extra["ttfb_ms"] = None if ttfb is None else round(ttfb * 1000, 1)
        extra["overhead_ms"] = round(self.overhead() * 1000, 2)
        if self.attempts > 1:
            extra["attempts"] = self.attempts
        if sink is not None:
            extra |= sink(self, fields)
        return extra
