"""Shaping an opened answer into the events a caller receives.

Every answer runs through the tool engine's ``Shaper`` (``qwenfree/tools``): calls become
``ToolCallStart``/``ToolCallDelta`` events and ``StopReason.TOOL_USE``. The answer is read until
the shaper commits to it (at once, unless a call is required or JSON is due). When the reply
cannot be used (a required call is missing, JSON mode got prose), nothing has been sent yet, so
the same upstream chat is asked once more (``Backend.follow_up``) before ``MessageStart``.

``MessageStart.id`` is the continuation handle ``<chat_id>.<response_id>.<tag>`` (``Router.tag``).
A site that reports no usage (Tongyi) gets an estimate: LobeChat and Dify read it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from qwenfree import errors, tokens
from qwenfree.events import (
    Event,
    MessageStart,
    MessageStop,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from qwenfree.tools.engine import OutputRules, Shaper
from qwenfree.upstream.backend import Answer, Backend
from qwenfree.upstream.turn import Handle

log = logging.getLogger(__name__)


def shaped(
    backend: Backend,
    opened: Answer,
    rules: OutputRules,
    model: str,
    tag: Callable[[str, str], str],
) -> Iterator[Event]:
    """The events of ``opened`` (an answer of ``backend``) under ``rules``, from
    ``MessageStart`` to ``MessageStop``; every answer read is closed. ``tag(chat, response)``:
    the last part of the handle ``MessageStart`` names (``Router.tag``)."""
    answers = [opened]
    try:
        shaper, held = _settle(answers[-1], Shaper(rules))
        nudge = shaper.problem()
        if nudge is not None:
            log.info("the answer broke the requested output rules; asking once more")
            answers.append(backend.follow_up(answers[-1], nudge))
            shaper, held = _settle(answers[-1], Shaper(rules, last_chance=True))
        last = answers[-1]
        handle = Handle(last.chat_id, last.response_id, tag(last.chat_id, last.response_id))
        yield MessageStart(str(handle), model, _input_tokens(last))
        written = _Written()
        yield from written.count(held)
        yield from written.count(_rest(last, shaper))
        yield last.usage or Usage(_input_tokens(last), written.tokens())
        yield MessageStop(shaper.stop_reason, shaper.stop_sequence)
    finally:
        for answer in answers:
            answer.close()


def _settle(answer: Answer, shaper: Shaper) -> tuple[Shaper, list[Event]]:
    """Read until the shaper commits to the answer or the answer ends; return the events held
    so far."""
    held: list[Event] = []
    for event in answer.events:
        held += shaper.feed(event)
        if shaper.committed or shaper.done:
            break
    if not shaper.committed:
        _check_answered(answer)
        held += shaper.finish()
    return shaper, held


def _rest(answer: Answer, shaper: Shaper) -> Iterator[Event]:
    """The remainder of a committed answer, shaped; nothing when it was already read."""
    if shaper.finished:
        return
    if not shaper.done:
        for event in answer.events:
            yield from shaper.feed(event)
            if shaper.done:
                break
    _check_answered(answer)
    yield from shaper.finish()


def _check_answered(answer: Answer) -> None:
    if not answer.answered:
        raise errors.UpstreamEmpty(f"{answer.site} ended the answer after thinking, with no reply")


class _Written:
    """What an answer wrote, for a usage estimate where the site reports none."""

    def __init__(self) -> None:
        self.chars: list[str] = []

    def count(self, events: Iterable[Event]) -> Iterator[Event]:
        for event in events:
            if isinstance(event, TextDelta | ReasoningDelta):
                self.chars.append(event.text)
            elif isinstance(event, ToolCallDelta):
                self.chars.append(event.arguments)
            yield event

    def tokens(self) -> int:
        return tokens.estimate("".join(self.chars))


def _input_tokens(answer: Answer) -> int:
    """The upstream's count, else our estimate of the whole prompt (attached files included)."""
    usage = answer.usage
    if usage is not None:
        return usage.input_tokens
    return answer.turn.prompt_tokens or tokens.estimate(answer.turn.text)
