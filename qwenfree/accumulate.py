"""Folding a stream of events into one completion: non-stream answers are made this way, so
stream and non-stream share one upstream path."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from qwenfree.events import (
    Citations,
    ImageOutput,
    MessageStart,
    MessageStop,
    ReasoningDelta,
    Source,
    StopReason,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str = ""


@dataclass
class Completion:
    id: str = ""
    model: str = ""
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    images: list[ImageOutput] = field(default_factory=list)
    usage: Usage | None = None
    stop_reason: StopReason = StopReason.END_TURN
    stop_sequence: str | None = None


def accumulate(events: Iterable[object]) -> Completion:
    """Consume every event (closing the stream even on error) and return the whole answer."""
    done = Completion()
    text: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, ToolCall] = {}
    args: dict[int, list[str]] = {}
    stream = iter(events)
    try:
        for ev in stream:
            if isinstance(ev, TextDelta):
                text.append(ev.text)
            elif isinstance(ev, ReasoningDelta):
                reasoning.append(ev.text)
            elif isinstance(ev, ToolCallStart):
                calls[ev.index] = ToolCall(ev.id, ev.name)
                args[ev.index] = []
            elif isinstance(ev, ToolCallDelta):
                args[ev.index].append(ev.arguments)
            elif isinstance(ev, Citations):
                done.sources.extend(ev.sources)
            elif isinstance(ev, ImageOutput):
                done.images.append(ev)
            elif isinstance(ev, Usage):
                done.usage = ev
            elif isinstance(ev, MessageStart):
                done.id, done.model = ev.id, ev.model
            elif isinstance(ev, MessageStop):
                done.stop_reason, done.stop_sequence = ev.stop_reason, ev.stop_sequence
    finally:
        getattr(stream, "close", lambda: None)()
    for index in sorted(calls):
        calls[index].arguments = "".join(args[index])
        done.tool_calls.append(calls[index])
    done.text, done.reasoning = "".join(text), "".join(reasoning)
    return done
