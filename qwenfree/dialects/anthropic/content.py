"""Anthropic content blocks -> neutral message parts (the request side of translate.py).

Blocks the upstream cannot use (``redacted_thinking``, server-tool blocks, unknown types) are
skipped; images and documents become parts; ``tool_result`` content is flattened to text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from qwenfree import errors
from qwenfree.conversation import (
    FilePart,
    ImagePart,
    Message,
    Part,
    ReasoningPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)

# Claude Code puts a per-request billing line first in the system prompt; it means nothing
# upstream and would change the prompt on every request.
SYSTEM_NOISE = ("x-anthropic-billing-header:",)


def system_text(system: Any) -> str | None:
    if system is None:
        return None
    texts = [system] if isinstance(system, str) else [block_text(b) for b in system]
    kept = [t for t in texts if t and not t.startswith(SYSTEM_NOISE)]
    return "\n\n".join(kept) or None


def message(raw: Mapping[str, Any]) -> Message:
    role, content = raw["role"], raw["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    parts: list[Part] = []
    for block in blocks:
        if (found := part(block)) is not None:
            parts.append(found)
        if block["type"] == "tool_result":  # a tool's pictures (Claude Code's screenshots)
            parts += [media(b) for b in _blocks(block.get("content")) if b.get("type") == "image"]
    results = [p for p in parts if isinstance(p, ToolResultPart)]
    if role == "user" and results and all(_from_tool(p) for p in parts):
        role = "tool"
    return Message(role, tuple(parts))


def _blocks(content: Any) -> list[Mapping[str, Any]]:
    return [b for b in content or () if isinstance(b, Mapping)] if isinstance(content, list) else []


def _from_tool(part: Part) -> bool:
    return isinstance(part, ToolResultPart | ImagePart)


def part(block: Mapping[str, Any]) -> Part | None:
    kind = block["type"]
    if kind == "text":
        return TextPart(str(block.get("text") or ""))
    if kind == "tool_use":
        arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
        return ToolCallPart(str(block.get("id") or ""), str(block.get("name") or ""), arguments)
    if kind == "tool_result":
        return ToolResultPart(
            str(block.get("tool_use_id") or ""),
            result_text(block.get("content")),
            is_error=bool(block.get("is_error")),
        )
    if kind == "thinking":
        return ReasoningPart(str(block.get("thinking") or ""))
    if kind in ("image", "document"):
        return media(block)
    return None  # redacted_thinking, server tool blocks, …: nothing the upstream can use


def media(block: Mapping[str, Any]) -> Part:
    """An ``image`` or ``document`` block: base64 or URL sources become attachments; a plain
    text (or content-blocks) document is inlined as text."""
    source = block.get("source")
    source = source if isinstance(source, Mapping) else {}
    kind = source.get("type")
    if kind == "text":
        return TextPart(str(source.get("data") or ""))
    if kind == "content":
        return TextPart(result_text(source.get("content")))
    if kind not in ("url", "base64"):
        raise errors.InvalidRequest(
            f"{block['type']} sources of type {kind!r} are not supported: send base64 or a url",
            param="messages",
        )
    url = str(source.get("url") or "") if kind == "url" else None
    data = source.get("data") if kind == "base64" else None
    if kind == "base64" and (not isinstance(data, str) or not data):
        raise errors.InvalidRequest(f"a base64 {block['type']} needs 'data'", param="messages")
    media_type = str(source.get("media_type") or "")
    if block["type"] == "image":
        return ImagePart(media_type, data=data, url=url)
    return FilePart(media_type, data=data, url=url, name=str(block.get("title") or ""))


def result_text(content: Any) -> str:
    """A ``tool_result``'s or content document's ``content``: a string or a list of blocks."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise errors.InvalidRequest(
            "content must be a string or a list of content blocks", param="messages"
        )
    out = []
    for block in content:
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "text":
            out.append(block_text(block))
        elif block.get("type") == "tool_reference":
            out.append(f"[the tool {block.get('tool_name')} is now available]")
        else:
            out.append(f"[{block.get('type')}]")
    return "\n".join(out)


def block_text(block: Any) -> str:
    return str(block.get("text") or "") if isinstance(block, Mapping) else ""


def referenced_tools(messages: Iterable[Mapping[str, Any]]) -> set[str]:
    """Deferred tools (``defer_loading``) a tool search has loaded: they are named by
    ``tool_reference`` blocks in tool results, and only then offered to the model."""
    names = set()
    for message in messages:
        for block in message["content"] if isinstance(message["content"], list) else ():
            for inner in _blocks(block.get("content")) if block["type"] == "tool_result" else ():
                if inner.get("type") == "tool_reference":
                    names.add(str(inner.get("tool_name") or ""))
    return names
