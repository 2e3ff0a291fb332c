"""The output rules of one request and the shaper that applies them to an upstream answer.

``OutputRules`` says what the answer may or must contain (tool calls, JSON, stop strings) and
produces the prompt text that asks for it. ``Shaper`` turns the upstream's text events into
text and ``ToolCallStart``/``ToolCallDelta`` events, cuts at stop strings, and says whether the
answer can be sent (``committed``) or should be asked again once (``problem``). Dialects never
see the protocol: they map their JSON to ``ToolSpec``/parts and these events back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qwenfree import errors
from qwenfree.conversation import Conversation, GenerationParams, ToolSpec
from qwenfree.events import Event, StopReason, TextDelta, ToolCallDelta, ToolCallStart
from qwenfree.tools import jsonmode, protocol
from qwenfree.tools.parser import Call, CallParser, Piece

log = logging.getLogger(__name__)
CHOICE_MODES = ("auto", "none", "required")


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


@dataclass(frozen=True, slots=True)
class OutputRules:
    tools: tuple[ToolSpec, ...] = ()
    choice: str = "auto"  # auto | none | required | a tool name
    parallel: bool = True
    json_schema: Mapping[str, Any] | None = None
    stop: tuple[str, ...] = ()
    description_chars: int = 0  # tool descriptions are cut to this length in the prompt

    @classmethod
    def of(
        cls, conversation: Conversation, params: GenerationParams, description_chars: int = 0
    ) -> OutputRules:
        """Read the rules from a request; raise InvalidRequest for a choice that cannot work."""
        choice = params.tool_choice or "auto"
        names = {t.name for t in conversation.tools}
        if choice not in CHOICE_MODES and choice not in names:
            raise errors.InvalidRequest(
                f"tool_choice names the tool '{choice}', which is not among the tools",
                param="tool_choice",
            )
        if choice == "required" and not names:
            raise errors.InvalidRequest(
                "tool_choice requires a tool call but no tools were given", param="tool_choice"
            )
        schema = params.extra.get("json_schema")
        jsonmode.check_schema(schema)
        return cls(
            tools=conversation.tools,
            choice=choice,
            parallel=params.parallel_tool_calls,
            json_schema=schema if isinstance(schema, Mapping) else None,
            stop=tuple(s for s in params.stop if s),
            description_chars=description_chars,
        )

    @property
    def calling(self) -> bool:
        """Are calls parsed out of the answer at all?"""
        return bool(self.tools) and self.choice != "none"

    @property
    def must_call(self) -> bool:
        return self.calling and self.choice != "auto"

    def preface(self) -> str:
        """Text for the system part of a fresh prompt (the tool catalog and rules)."""
        if self.calling:
            return protocol.catalog(self.tools, self.parallel, self.description_chars)
        return ""

    def closing(self) -> str:
        """The note that ends a prompt: the call format again, the choice, JSON mode."""
        notes = []
        if self.tools:
            notes.append(protocol.reminder(self.choice))
        if self.json_schema is not None:
            notes.append(jsonmode.instruction(self.json_schema))
        return "\n\n".join(n for n in notes if n)

    def allowed(self) -> frozenset[str]:
        if self.choice in CHOICE_MODES:
            return frozenset(t.name for t in self.tools)
        return frozenset([self.choice])


@dataclass
class StopFilter:
    """Cuts text at the first stop string, holding back only a possible partial match."""

    stops: Sequence[str]
    hit: str | None = None
    _held: str = ""

    def feed(self, text: str) -> str:
        if self.hit is not None or not self.stops:
            return "" if self.hit is not None else text
        text = self._held + text
        found = [(i, s) for s in self.stops if (i := text.find(s)) >= 0]
        if found:
            at, self.hit = min(found)
            self._held = ""
            return text[:at]
        keep = max(
            (k for s in self.stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0
        )
        self._held = text[len(text) - keep :] if keep else ""
        return text[: len(text) - keep]

    def finish(self) -> str:
        held, self._held = self._held, ""
        return held


@dataclass
class Shaper:
    """Applies the rules to one upstream answer. ``last_chance``: no follow-up can be asked, so
    the answer is delivered as it is (or, in JSON mode, refused with ModelOutputInvalid)."""

    rules: OutputRules
    last_chance: bool = False
    new_id: Callable[[], str] = new_call_id
    committed: bool = False
    finished: bool = False
    calls: int = 0
    truncated: bool = False
    _problem: str | None = None
    _json_text: list[str] = field(default_factory=list)
    _stops: StopFilter = field(init=False)
    _parser: CallParser | None = field(init=False)
    _plain: bool = field(init=False)

    def __post_init__(self) -> None:
        rules = self.rules
        self._stops = StopFilter(rules.stop)
        self._parser = (
            CallParser(rules.allowed(), single=not rules.parallel) if rules.calling else None
        )
        self.committed = not rules.must_call and rules.json_schema is None
        self._plain = not self._stops.stops and self._parser is None and rules.json_schema is None

    @property
    def done(self) -> bool:
        """Nothing more is wanted from the upstream (stop string, single call, forged result)."""
        return self._stops.hit is not None or bool(self._parser and self._parser.done)

    @property
    def stop_sequence(self) -> str | None:
        return self._stops.hit

    @property
    def stop_reason(self) -> StopReason:
        if self.truncated:
            return StopReason.MAX_TOKENS
        if self.calls:
            return StopReason.TOOL_USE
        return StopReason.STOP_SEQUENCE if self._stops.hit is not None else StopReason.END_TURN

    def feed(self, event: Event) -> list[Event]:
        """Shape one upstream event (only text is transformed)."""
        if not isinstance(event, TextDelta):
            return [event]
        if self._plain:  # no stop strings, no calls, no JSON: text passes as it is
            return [event] if event.text else []
        text = self._stops.feed(event.text)
        pieces = self._parser.feed(text) if self._parser else [text]
        return self._events(pieces)

    def finish(self) -> list[Event]:
        """The upstream answer ended (or is no longer wanted): release what is held."""
        self.finished = True
        tail = self._stops.finish()
        pieces = self._parser.feed(tail) if self._parser else [tail]
        pieces += self._parser.finish() if self._parser else []
        out = self._events(pieces)
        if self.rules.json_schema is not None and not self.calls:
            out += self._json()
        elif self.rules.must_call and not self.calls:
            self._settle(protocol.nudge(self.rules.choice), "the model did not call a tool")
        return out

    def problem(self) -> str | None:
        """After ``finish``: the follow-up to send when the answer cannot be used."""
        return None if self.committed else self._problem

    def _events(self, pieces: list[Piece]) -> list[Event]:
        out: list[Event] = []
        for piece in pieces:
            if isinstance(piece, Call):
                out += self._call(piece)
            elif piece and self.rules.json_schema is not None and not self.calls:
                self._json_text.append(piece)
            elif piece:
                out.append(TextDelta(piece))
        return out

    def _call(self, call: Call) -> list[Event]:
        index, self.calls = self.calls, self.calls + 1
        self.truncated = self.truncated or call.truncated
        self.committed = True
        return [
            ToolCallStart(index, self.new_id(), call.name),
            ToolCallDelta(index, call.arguments),
        ]

    def _json(self) -> list[Event]:
        schema = self.rules.json_schema or {}
        clean, problem = jsonmode.check("".join(self._json_text), schema)
        if clean is not None:
            self.committed = True
            return [TextDelta(clean)]
        if self.last_chance:
            raise errors.ModelOutputInvalid(
                f"The model did not answer with the requested JSON: {problem}"
            )
        self._problem = jsonmode.nudge(problem or "it is not valid JSON")
        return []

    def _settle(self, nudge: str, what: str) -> None:
        if self.last_chance:
            log.info("%s even when asked again; delivering its answer as it is", what)
            self.committed = True
        else:
            self._problem = nudge
