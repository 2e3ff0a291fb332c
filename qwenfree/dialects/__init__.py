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
    def to_conversation(self, payload: Mapping[str, Any]) -> tuple[Conversation, GenerationParams]: ...

    def encode_events(self, events: Iterable[object], params: GenerationParams) -> Iterator[SSEMessage]: ...

    def encode_completion(self, done: Completion, params: GenerationParams) -> dict[str, Any]: ...

    def encode_error(self, err: QwenfreeError) -> tuple[int, dict[str, Any]]: ...

    def encode_stream_error(self, err: QwenfreeError) -> SSEMessage: ...


def registry() -> dict[str, ModuleType]:
    """Blueprint name -> translate module; imported lazily to keep import order simple."""
    from qwenfree.dialects.openai import translate as openai

    return {"openai": openai}


# URL prefixes for requests no blueprint claimed (404/405): first match wins.
PREFIXES: tuple[tuple[str, str], ...] = (("/", "openai"),)
