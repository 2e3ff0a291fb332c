"""What one upstream call did, for whoever watches the transport (``make doctor``): the
client calls each observer once per call, after the call ended (a stream: after its body)."""

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
    seconds: float
    error: str | None = None  # our error kind when the call failed
    message: str | None = None  # our error message
    stream: bool = False
    unparsed: tuple[str, ...] = ()  # frames or fields the stream parser did not understand


Observer = Callable[[CallRecord], None]
