"""What differs between the upstream web chats the client can talk to: where they live, the
headers a browser would send, how a credential travels, and how their bodies are read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from qwenfree.errors import QwenfreeError
from qwenfree.events import Event, Usage


class Parser(Protocol):
    """Reads one answer's SSE payloads; the service reads these attributes afterwards."""

    response_id: str | None
    created_id: str | None
    usage: Usage | None
    answered: bool
    finished: bool  # the answer's own end mark arrived

    def parse(self, payload: str) -> list[Event]: ...


@dataclass(frozen=True)
class Site:
    base: str
    headers: Mapping[str, str]  # static, browser-like
    credentials: Callable[[str], dict[str, str]]  # per-request auth headers for a token
    parser: Callable[[], Parser]
    business_error: Callable[[Mapping[str, Any]], QwenfreeError | None]
    page_error: Callable[[str], QwenfreeError]
    # Per call: the headers a browser page sends for this path (and chat), fresh ids included.
    # None: ``headers`` plus a request id and time zone.
    request_headers: Callable[[str, str | None], dict[str, str]] | None = None
    # Where the real status rides when the site answers HTTP 200 for a failure (§16.2).
    status_header: str | None = None
    # Whose cookie jar a credential uses: stable across token refreshes where the site allows.
    identity: Callable[[str], str] | None = None
    profile: str = "static"  # the header set's name, for failure log lines
    name: str = "chat.qwen.ai"  # how error messages name the site
    # (method, path prefix, name) of the JSON calls /metrics tells apart; first match wins.
    endpoints: tuple[tuple[str, str, str], ...] = ()

    def endpoint(self, method: str, path: str) -> str:
        """The name of a call, for /metrics' ``call`` label: bounded, never an id."""
        hit = (
            name for m, prefix, name in self.endpoints if m == method and path.startswith(prefix)
        )
        return next(hit, "other")
