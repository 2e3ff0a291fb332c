"""Flattening a conversation into the single message chat.qwen.ai accepts, and its size.

The upstream takes one user message per request, so earlier turns travel as text. Format: a
lone user message is sent as its own text; anything more becomes a transcript of sections, each
opened by a header line ``<fence> <role> <fence>``. The fence is a run of ``=`` long enough that
no line of any content starts with it, so a section boundary can never be forged or confused
by content (``:``, ``;``, newlines, even lines of ``=`` survive unchanged)::

    ==== system ====
    You are terse.
    ==== user ====
    hi
    ==== assistant ====
    Hello!
    ==== user ====
    What is 2+2?

With tools, the system section ends with the tool catalog, earlier calls and results appear in
the protocol's own form (``tools/protocol.py``), and a closing system section restates the rules
for this reply. ``build`` makes the whole message; ``flatten`` only the history. Images and
files travel as attachments of the upstream message (``attachments.py``); in the text each
appears where it was sent, by the label of its attachment (``[attached image 1]``).

Size: the WAF in front of chat.qwen.ai challenges request bodies above ~128 KB, so a prompt is
measured as it travels (JSON-escaped; non-ASCII as ``\\uXXXX``); above
``Settings.max_prompt_kb`` its older part moves into attached files (``long_prompt.py``) or,
where a site takes none, it is refused (``check_size``). Tokens are estimated from the same
measure, in one place (``qwenfree/tokens.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from qwenfree import errors, tokens
from qwenfree.conversation import (
    Conversation,
    FilePart,
    GenerationParams,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from qwenfree.tools import protocol
from qwenfree.tools.engine import OutputRules

PREAMBLE = (
    "The conversation so far is below; each section starts with a header line naming who "
    "speaks. Continue it with the assistant's next reply, without writing a header yourself."
)
ENVELOPE_BYTES = 2048  # the rest of the upstream request body around the prompt text


@dataclass(frozen=True, slots=True)
class Sections:
    """A prompt before it is joined into one text: the parts ``long_prompt`` may move into
    attached files. ``system`` and ``preface`` are empty in a continued chat (it has them)."""

    system: str  # the caller's system prompt
    preface: str  # the tool catalog and rules
    messages: tuple[tuple[str, str], ...]  # (role, rendered text), oldest first
    closing: str  # the rules for this reply, restated last

    def head(self) -> str:
        """The opening system section's text: the caller's system prompt, then the tools."""
        return "\n\n".join(s for s in (self.system, self.preface) if s)

    def text(self) -> str:
        """The whole prompt as one message text."""
        parts = [("system", self.head())] if self.head() else []
        parts += self.messages
        if self.closing:
            parts.append(("system", self.closing))
        return join(parts)


def sections(
    conversation: Conversation,
    params: GenerationParams,
    messages: tuple[Message, ...] | None = None,
    *,
    description_chars: int = 0,
    labels: Mapping[Part, str] | None = None,
) -> Sections:
    """The parts of the upstream message for this reply (see ``build``)."""
    rules = OutputRules.of(conversation, params, description_chars)
    whole = messages is None
    msgs = conversation.messages if messages is None else messages
    names = _call_names(conversation.messages)
    return Sections(
        (conversation.system or "") if whole else "",
        rules.preface() if whole else "",
        tuple((m.role, render_parts(m, names, labels)) for m in msgs),
        rules.closing(),
    )


def build(
    conversation: Conversation,
    params: GenerationParams,
    messages: tuple[Message, ...] | None = None,
    *,
    description_chars: int = 0,
    labels: Mapping[Part, str] | None = None,
) -> str:
    """The upstream message for this reply; ``messages`` (a continued chat's new turn) omits
    the system section, which the upstream chat already has. Tool descriptions are cut to
    ``description_chars`` (0: whole); ``labels`` names the attachment of an image or file."""
    return sections(
        conversation, params, messages, description_chars=description_chars, labels=labels
    ).text()


def flatten(conversation: Conversation, messages: tuple[Message, ...] | None = None) -> str:
    """Render the system prompt and ``messages`` (default: all) as one message text."""
    msgs = conversation.messages if messages is None else messages
    names = _call_names(conversation.messages)
    parts = [("system", conversation.system)] if conversation.system else []
    return join(parts + [(m.role, render_parts(m, names)) for m in msgs])


def new_turn(conversation: Conversation) -> tuple[Message, ...]:
    """The messages after the last assistant turn: what a continued chat has not seen yet."""
    msgs = conversation.messages
    for index in range(len(msgs) - 1, -1, -1):
        if msgs[index].role == "assistant":
            return msgs[index + 1 :]
    return msgs


def render_parts(
    message: Message,
    names: Mapping[str, str] | None = None,
    labels: Mapping[Part, str] | None = None,
) -> str:
    """Render one message's parts as plain text; ``names`` maps call ids to tool names,
    ``labels`` images and files to their attachments."""
    out: list[str] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            out.append(part.text)
        elif isinstance(part, ToolCallPart):
            out.append(protocol.render_call(part.name, part.arguments_json, part.id))
        elif isinstance(part, ToolResultPart):
            out.append(protocol.render_result(part, (names or {}).get(part.tool_call_id, "")))
        elif isinstance(part, ImagePart | FilePart) and labels and part in labels:
            out.append(labels[part])
        elif isinstance(part, ImagePart):
            out.append(f"[image: {part.url}]" if part.url else "[image]")
        elif isinstance(part, FilePart):
            out.append(f"[file: {part.name or part.media_type or 'not attached'}]")
        elif isinstance(part, ReasoningPart):
            continue  # earlier thinking is not replayed: the model thinks afresh
    return "\n".join(out)


wire_size = tokens.wire_size  # the size measure is the token estimate's, kept in one place


def budget(max_kb: int, extra_bytes: int = 0) -> int:
    """Bytes of prompt text (as it travels) that fit a body of ``max_kb`` KiB; ``extra_bytes``:
    the rest of the body beyond the usual envelope (attachment entries)."""
    return max_kb * 1024 - ENVELOPE_BYTES - extra_bytes


def fits(text: str, max_kb: int, extra_bytes: int = 0) -> bool:
    """Does the text fit the safe body size (``max_kb`` 0: any size does)?"""
    return max_kb <= 0 or wire_size(text) <= budget(max_kb, extra_bytes)


def check_size(text: str, max_kb: int, extra_bytes: int = 0) -> None:
    """Refuse a prompt the upstream would challenge; the message follows Anthropic's wording
    (clients such as Claude Code compact their history when they read it). ``extra_bytes``: the
    rest of the body beyond the usual envelope (attachment entries)."""
    if fits(text, max_kb, extra_bytes):
        return
    raise too_long(tokens.estimate(text), tokens.of_bytes(budget(max_kb, extra_bytes)))


def too_long(counted: int, maximum: int) -> errors.PromptTooLong:
    """Anthropic's refusal, word for word: Claude Code matches it (and reads both numbers) to
    start its automatic compaction."""
    return errors.PromptTooLong(
        f"prompt is too long: {counted} tokens > {maximum} maximum", param="messages"
    )


def join(parts: Sequence[tuple[str, str]], preamble: str = PREAMBLE) -> str:
    """Sections as one text under ``preamble``; a lone user section is sent as it is."""
    if len(parts) == 1 and parts[0][0] == "user":
        return parts[0][1]
    return preamble + "\n\n" + headed(parts)


def headed(parts: Sequence[tuple[str, str]]) -> str:
    """Each section under its header line, with a fence no line of the contents starts with."""
    fence = _fence(text for _, text in parts)
    return "\n".join(f"{fence} {role} {fence}\n{text}" for role, text in parts)


def _call_names(messages: Iterable[Message]) -> dict[str, str]:
    """Tool names by call id, so results that name only the id can be labelled."""
    return {p.id: p.name for m in messages for p in m.parts if isinstance(p, ToolCallPart) and p.id}


def _fence(texts: Iterable[str]) -> str:
    longest = 3
    for text in texts:
        for line in text.split("\n"):
            run = len(line) - len(line.lstrip("="))
            longest = max(longest, run)
    return "=" * (longest + 1)
