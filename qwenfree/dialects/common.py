"""What every dialect shares: the ``Dialect`` contract and the helpers more than one dialect
uses (answer pictures as markdown, JSON answers without their code fence, id prefixes, model
lookup). Pure functions, no Flask.

``Dialect`` is a frozen dataclass of callables, not a base class: each dialect is a module of
pure functions already, and a field without a default makes a missing member fail when the
registry is built, before any request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qwenfree.accumulate import Completion
from qwenfree.catalog import ModelCatalog, ModelInfo
from qwenfree.conversation import Conversation, GenerationParams
from qwenfree.errors import QwenfreeError
from qwenfree.events import ImageOutput
from qwenfree.sse import SSEMessage
from qwenfree.tools.repair import unfence as unfence  # the one unfence: JSON mode checks with it

__all__ = ["Dialect", "IdPrefix", "markdown_image", "model_by_alias", "unfence"]


@dataclass(frozen=True, slots=True)
class IdPrefix:
    """How a dialect wraps the gateway's continuation handle (``MessageStart.id``) into the ids
    it hands out, and unwraps an id a caller hands back. An id without this dialect's prefix is
    not one it issued: ``decode`` gives None and the request starts a fresh chat."""

    prefix: str

    def encode(self, handle: str) -> str:
        return self.prefix + handle

    def decode(self, given: object) -> str | None:
        if not isinstance(given, str) or not given.startswith(self.prefix):
            return None
        return given[len(self.prefix) :] or None


@dataclass(frozen=True, slots=True)
class Dialect:
    """The members every dialect provides (design.md §3, §13); all required.

    ``thinking_optional``: a wish to think that the model cannot honour is dropped instead of
    refused (Claude Code and gemini-cli ask every model to think); the service applies it
    (``GenerationParams.thinking_optional``), the dialect only states it.
    ``error_request_id``: the error body field that echoes the request id, if the dialect has one.
    """

    name: str
    to_conversation: Callable[[Mapping[str, Any]], tuple[Conversation, GenerationParams]]
    encode_events: Callable[[Iterable[object], GenerationParams], Iterator[SSEMessage]]
    encode_completion: Callable[[Completion, GenerationParams], dict[str, Any]]
    encode_error: Callable[[QwenfreeError], tuple[int, dict[str, Any]]]
    encode_stream_error: Callable[[QwenfreeError], SSEMessage]
    encode_models: Callable[[Sequence[ModelInfo]], dict[str, Any]]
    describe_model: Callable[[ModelCatalog, str, str | None], dict[str, Any]]
    encode_token_count: Callable[[int], dict[str, Any]]
    ids: IdPrefix
    thinking_optional: bool
    error_request_id: str | None


def markdown_image(image: ImageOutput) -> str:
    """A picture the model drew, as the markdown every dialect answers with."""
    return f"![image]({image.url})"


def model_by_alias(
    encode: Callable[[ModelInfo, str], dict[str, Any]],
) -> Callable[[ModelCatalog, str, str | None], dict[str, Any]]:
    """``describe_model`` for dialects whose clients use other vendors' names (``claude-*``,
    ``gemini-*``): the catalog's aliases resolve them; the answer keeps the name asked for."""

    def describe(catalog: ModelCatalog, name: str, token: str | None) -> dict[str, Any]:
        return encode(catalog.resolve(name, token).model, name)

    return describe
