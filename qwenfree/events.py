"""Neutral stream events: what the upstream yields and every dialect translates.

Pure values, no behaviour. Errors are never events: the iterator raises them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StopReason(StrEnum):
    END_TURN = "end_turn"
    MAX_TOKENS = "max_tokens"
    TOOL_USE = "tool_use"
    STOP_SEQUENCE = "stop_sequence"
    CONTENT_FILTER = "content_filter"


@dataclass(frozen=True, slots=True)
class MessageStart:
    """The answer begins. ``id`` is the continuation handle; ``model`` the upstream model id;
    ``input_tokens`` the prompt's size as the upstream counted it (our estimate until it says)."""

    id: str
    model: str
    input_tokens: int = 0


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of answer text (never empty)."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's visible thinking (never empty)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """A tool call opens: ``index`` counts calls in this answer from 0."""

    index: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of the JSON arguments of call ``index``; fragments concatenate to JSON."""

    index: int
    arguments: str


@dataclass(frozen=True, slots=True)
class Source:
    """One web-search result the answer may cite."""

    url: str
    title: str = ""
    snippet: str = ""


@dataclass(frozen=True, slots=True)
class Citations:
    """Web-search results found while answering."""

    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class ImageOutput:
    """A generated picture; ``url`` keeps its query string (the CDN needs its ``key``)."""

    url: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the upstream reported them (the last, cumulative figures)."""

    input_tokens: int
    output_tokens: int
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing arrived for a while; a dialect may send its keep-alive (Gemini sends nothing)."""


@dataclass(frozen=True, slots=True)
class MessageStop:
    """The answer ended normally; ``stop_sequence`` is the caller's stop string that ended it."""

    stop_reason: StopReason = StopReason.END_TURN
    stop_sequence: str | None = None


Event = (
    MessageStart
    | TextDelta
    | ReasoningDelta
    | ToolCallStart
    | ToolCallDelta
    | Citations
    | ImageOutput
    | Usage
    | Heartbeat
    | MessageStop
)
