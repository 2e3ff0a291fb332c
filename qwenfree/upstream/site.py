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
    name: str = "chat.qwen.ai"  # how error messages name the site
