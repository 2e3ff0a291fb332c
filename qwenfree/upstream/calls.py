"""What one upstream call did, for whoever watches the transport (``make doctor``, /metrics):
the client calls each observer once per call, after the call ended (a stream: after its body).

While a call runs, its wire time (sending and waiting for the status line and headers, and a
stream's body reads; never our own parsing) goes to the ``Wire`` the client's ``wire`` hook
named when the call started: the API request's meter, so ``x-qwenfree-overhead-ms`` counts only
what the gateway adds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallRecord:
    method: str
    path: str  # without its query: ids in queries are not the observer's business
    http_status: int | None  # None: no answer at all (a transport error)
    actual_status: str | None  # the site's real-status header, as sent
    code: str | None  # the site's business code of a failure ("challenge" for a WAF page)
    details: str | None  # the site's own words about a failure (unredacted: redact before use)
    seconds: float  # the whole call (a stream: to the end of its body)
    error: str | None = None  # our error kind when the call failed
    message: str | None = None  # our error message
    stream: bool = False
    unparsed: tuple[str, ...] = ()  # frames or fields the stream parser did not understand
    endpoint: str = "other"  # the site's name for the call (``Site.endpoint``), bounded
    # Streams: from the call to the status line, then from the first read to the first event
    # (None: the body was never read).
    open_seconds: float | None = None
    first_event_seconds: float | None = None


Observer = Callable[[CallRecord], None]
Wire = Callable[[float], None]  # charged with seconds on the wire, as they are spent
WireHook = Callable[[], Wire | None]  # asked at each call's start, in the caller's context
