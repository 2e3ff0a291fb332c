"""API dialects. Each has the same three modules (views, schemas, translate) and its
``translate`` module satisfies :class:`Dialect`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any, Protocol

from qwenfree.accumulate import Completion
from qwenfree.conversation import Conversation, GenerationParams
from qwenfree.errors import QwenfreeError
from qwenfree.sse import SSEMessage


class Dialect(Protocol):
    def to_conversation(
        self, payload: Mapping[str, Any]
    ) -> tuple[Conversation, GenerationParams]: ...

    def encode_events(
        self, events: Iterable[object], params: GenerationParams
    ) -> Iterator[SSEMessage]: ...

    def encode_completion(self, done: Completion, params: GenerationParams) -> dict[str, Any]: ...

    def encode_error(self, err: QwenfreeError) -> tuple[int, dict[str, Any]]: ...

    def encode_stream_error(self, err: QwenfreeError) -> SSEMessage: ...


def registry() -> dict[str, ModuleType]:
    """Blueprint name -> translate module; imported lazily to keep import order simple."""
    from qwenfree.dialects.anthropic import translate as anthropic
    from qwenfree.dialects.gemini import translate as gemini
    from qwenfree.dialects.openai import translate as openai

    return {"openai": openai, "anthropic": anthropic, "gemini": gemini}


# URL prefixes for requests no blueprint claimed (404/405): first match wins.
PREFIXES: tuple[tuple[str, str], ...] = (
    ("/v1/messages", "anthropic"),
    ("/v1beta/", "gemini"),
    ("/", "openai"),
)


def for_request(path: str, blueprint: str | None, headers: Mapping[str, str]) -> str:
    """Name the dialect a request speaks: its blueprint, its headers, then its URL prefix.

    ``GET /v1/models`` is shared: Anthropic clients send ``anthropic-version``, Google's send
    ``x-goog-api-key`` or ``x-goog-api-client`` (google-genai defaults to ``/v1``).
    """
    if "anthropic-version" in headers:
        return "anthropic"
    if "x-goog-api-key" in headers or "x-goog-api-client" in headers:
        return "gemini"
    if blueprint in ("openai", "anthropic", "gemini"):
        return blueprint
    return next(name for prefix, name in PREFIXES if path.startswith(prefix))
