"""The neutral request model: a conversation and the knobs for generating its next turn.

Dialects build these from their JSON; the upstream layer reads them. Frozen values only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image given inline (``data``, base64) or by ``url``."""

    media_type: str = ""
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file that is not an image (a document such as a PDF, audio or video), given inline
    (``data``, base64) or by ``url``; ``name`` is the caller's file name, if it gave one."""

    media_type: str = ""
    data: str | None = None
    url: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """A call the assistant made earlier; ``arguments_json`` is the JSON text of its arguments."""

    id: str
    name: str
    arguments_json: str


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """What a tool returned for call ``tool_call_id``."""

    tool_call_id: str
    content: str
    is_error: bool = False
    name: str = ""


@dataclass(frozen=True, slots=True)
class ReasoningPart:
    text: str


Part = TextPart | ImagePart | FilePart | ToolCallPart | ToolResultPart | ReasoningPart
# "system": an instruction given mid-conversation (Claude Code sends them inside ``messages``).
Role = Literal["user", "assistant", "tool", "system"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        """Join the text parts."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str = ""
    parameters: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Conversation:
    system: str | None
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """How to generate. ``model`` is what the caller asked for (echoed back to it).

    ``thinking`` is None when the caller expressed no wish; ``thinking_optional`` drops a wish
    the model cannot honour instead of refusing it (Claude Code asks every model to think).
    ``continuation`` is a handle from an earlier answer (``MessageStart.id``) when the caller
    wants to continue that upstream chat. ``tool_choice`` is ``"auto"``, ``"none"``,
    ``"required"`` or the name of the one tool to call (None = auto); ``parallel_tool_calls``
    False allows at most one call per answer. JSON mode is ``extra["json_schema"]``: a JSON
    Schema the answer must satisfy (``{}`` = any JSON value).
    """

    model: str
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tool_choice: str | None = None
    thinking: bool | None = None
    thinking_budget: int | None = None
    thinking_optional: bool = False
    parallel_tool_calls: bool = True
    search: bool = False
    continuation: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)
