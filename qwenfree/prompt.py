"""Flattening a conversation into the single message chat.qwen.ai accepts.

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
"""

from __future__ import annotations

import json

from qwenfree.conversation import (
    Conversation,
    ImagePart,
    Message,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)

PREAMBLE = (
    "The conversation so far is below; each section starts with a header line naming who "
    "speaks. Answer the last user section as the assistant, without writing a header yourself."
)


def render_parts(message: Message) -> str:
    """Render one message's parts as plain text."""
    out: list[str] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            out.append(part.text)
        elif isinstance(part, ToolCallPart):
            call = {"id": part.id, "name": part.name, "arguments": _loads(part.arguments_json)}
            out.append("[tool call] " + json.dumps(call, ensure_ascii=False))
        elif isinstance(part, ToolResultPart):
            label = "[tool error]" if part.is_error else "[tool result]"
            head = f"{label} id={part.tool_call_id}" + (f" name={part.name}" if part.name else "")
            out.append(head + "\n" + part.content)
        elif isinstance(part, ImagePart):
            out.append(f"[image: {part.url}]" if part.url else "[image]")
        elif isinstance(part, ReasoningPart):
            continue  # earlier thinking is not replayed: the model thinks afresh
    return "\n".join(out)


def flatten(conversation: Conversation, messages: tuple[Message, ...] | None = None) -> str:
    """Render the system prompt and ``messages`` (default: all) as one message text."""
    msgs = conversation.messages if messages is None else messages
    sections = [(m.role, render_parts(m)) for m in msgs]
    if conversation.system:
        sections.insert(0, ("system", conversation.system))
    if len(sections) == 1 and sections[0][0] == "user":
        return sections[0][1]
    fence = _fence(text for _, text in sections)
    body = "\n".join(f"{fence} {role} {fence}\n{text}" for role, text in sections)
    return PREAMBLE + "\n\n" + body


def new_turn(conversation: Conversation) -> tuple[Message, ...]:
    """The messages after the last assistant turn: what a continued chat has not seen yet."""
    msgs = conversation.messages
    for index in range(len(msgs) - 1, -1, -1):
        if msgs[index].role == "assistant":
            return msgs[index + 1 :]
    return msgs


def _fence(texts: object) -> str:
    longest = 3
    for text in texts:  # type: ignore[attr-defined]
        for line in str(text).split("\n"):
            run = len(line) - len(line.lstrip("="))
            longest = max(longest, run)
    return "=" * (longest + 1)


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text
