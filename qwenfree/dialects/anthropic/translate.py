"""Anthropic Messages <-> the neutral model. Pure functions, no Flask.

Request side: system (string or text blocks), messages (``system`` entries included, as Claude
Code sends them), content blocks (text, image, document, tool_use, tool_result, thinking),
client tools (server tools are skipped; a web-search tool turns on upstream search),
tool_choice, thinking, output_config.format (JSON mode). Response side: the event sequence
message_start, ping, content blocks (thinking closed by a signature, text, tool_use), then
message_delta with the stop reason and usage, and message_stop. Web-search results become
``web_search_result_location`` citations on the first text block after them (streamed as
``citations_delta``), as Anthropic's own web search reports its sources.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qwenfree import errors
from qwenfree.accumulate import Completion
from qwenfree.conversation import Conversation, GenerationParams, ToolSpec
from qwenfree.dialects.anthropic import content, models
from qwenfree.dialects.common import Dialect, IdPrefix, markdown_image
from qwenfree.events import (
    Citations,
    Heartbeat,
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
from qwenfree.sse import HOLE, SSEMessage, Template

STOP_REASONS = {
    StopReason.END_TURN: "end_turn",
    StopReason.MAX_TOKENS: "max_tokens",
    StopReason.TOOL_USE: "tool_use",
    StopReason.STOP_SEQUENCE: "stop_sequence",
    StopReason.CONTENT_FILTER: "refusal",
}
# neutral error kind -> Anthropic error type (unlisted kinds: api_error)
ERROR_TYPES = {
    "invalid_request": "invalid_request_error",
    "context_length_exceeded": "invalid_request_error",
    "unauthorized": "authentication_error",
    "model_not_found": "not_found_error",
    "not_found": "not_found_error",
    "method_not_allowed": "invalid_request_error",
    "payload_too_large": "request_too_large",
    "rate_limited": "rate_limit_error",
    "upstream_rejected": "invalid_request_error",
    "content_filter": "invalid_request_error",
    "chat_not_found": "not_found_error",
    "upstream_timeout": "timeout_error",
}
# "No upstream token can serve now" is Anthropic's 529 overloaded_error, which clients retry.
BUSY_KINDS = ("no_token", "token_rejected")
ERROR_TYPES |= {kind: "overloaded_error" for kind in BUSY_KINDS}
STATUS_OVERRIDES = {kind: 529 for kind in BUSY_KINDS}
IDS = IdPrefix("msg_")  # message ids
THINKING_OPTIONAL = True  # Claude Code asks every model to think
CHOICES = {"auto": "auto", "any": "required", "none": "none"}
EFFORT_THINKS = {"low": False, "medium": True, "high": True, "max": True, "xhigh": True}


# ------------------------------------------------------------------------------ requests


def to_conversation(payload: Mapping[str, Any]) -> tuple[Conversation, GenerationParams]:
    """Translate a validated Messages (or count_tokens) body."""
    messages = tuple(content.message(m) for m in payload["messages"])
    if not any(m.role in ("user", "tool") for m in messages):
        raise errors.InvalidRequest("messages must contain a user message", param="messages")
    loaded = content.referenced_tools(payload["messages"])
    tools = tuple(
        _tool(t)
        for t in payload.get("tools") or ()
        if _is_client_tool(t) and (not t.get("defer_loading") or t.get("name") in loaded)
    )
    conversation = Conversation(content.system_text(payload.get("system")), messages, tools)
    return conversation, _params(payload)


def _params(payload: Mapping[str, Any]) -> GenerationParams:
    choice = payload.get("tool_choice") or {}
    output = payload.get("output_config") or {}
    fmt = output.get("format") or payload.get("output_format")
    thinking, budget = _thinking(payload.get("thinking"), output.get("effort"))
    extra: dict[str, object] = {"json_schema": fmt["schema"]} if fmt else {}
    if (payload.get("thinking") or {}).get("display") == "omitted":
        extra["thinking_display"] = "omitted"
    return GenerationParams(
        model=payload["model"],
        stream=bool(payload.get("stream")),
        max_tokens=payload.get("max_tokens"),
        temperature=payload.get("temperature"),
        top_p=payload.get("top_p"),
        stop=tuple(payload.get("stop_sequences") or ()),
        tool_choice=_choice(choice),
        parallel_tool_calls=not choice.get("disable_parallel_tool_use"),
        thinking=thinking,
        thinking_budget=budget,
        thinking_optional=THINKING_OPTIONAL,
        search=any(str(t.get("type") or "").startswith("web_search") for t in _tools(payload)),
        extra=extra,
    )


def _choice(choice: Mapping[str, Any]) -> str | None:
    """{type: auto|any|none} -> the neutral mode; {type: tool, name} -> the tool's name."""
    kind = choice.get("type", "auto")
    return str(choice["name"]) if kind == "tool" else CHOICES.get(kind)


def _thinking(
    config: Mapping[str, Any] | None, effort: str | None
) -> tuple[bool | None, int | None]:
    """enabled -> on (with its budget); disabled -> off; adaptive -> on unless effort is low."""
    kind = (config or {}).get("type")
    if kind == "enabled":
        return True, config.get("budget_tokens")  # type: ignore[union-attr]
    if kind == "disabled":
        return False, None
    if kind == "adaptive":
        return EFFORT_THINKS.get(str(effort or "high").lower(), True), None
    return None, None


def _tools(payload: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    return payload.get("tools") or ()


def _is_client_tool(tool: Mapping[str, Any]) -> bool:
    return tool.get("type") in (None, "custom")


def _tool(tool: Mapping[str, Any]) -> ToolSpec:
    return ToolSpec(tool["name"], str(tool.get("description") or ""), tool["input_schema"])


# ------------------------------------------------------------------------------ responses


def tool_use_id(call_id: str) -> str:
    return "toolu_" + call_id.removeprefix("call_")


def encode_events(events: Iterable[object], params: GenerationParams) -> Iterator[SSEMessage]:
    """Translate neutral events into the Messages stream, ending with message_stop."""
    stream = _Stream(params)
    for ev in events:
        for kind, data in stream.feed(ev):
            if isinstance(data, str):  # already serialised (_Stream._text)
                yield SSEMessage(data=data, event=kind)
            else:
                yield SSEMessage(data={"type": kind} | data, event=kind)


@dataclass
class _Stream:
    """Block bookkeeping: one open block at a time, indices in order, thinking signed."""

    params: GenerationParams
    msg_id: str = ""
    index: int = -1
    open: str | None = None  # type of the open block
    thinking: list[str] = field(default_factory=list)
    usage: Usage | None = None
    input_tokens: int = 0
    citations: list[dict[str, Any]] = field(default_factory=list)  # for the next text block
    templates: dict[tuple[str, int], Template] = field(default_factory=dict)

    def feed(self, ev: object) -> Iterator[tuple[str, dict[str, Any] | str]]:
        if isinstance(ev, MessageStart):
            self.msg_id, self.input_tokens = IDS.encode(ev.id), ev.input_tokens
            yield "message_start", {"message": self._start_message()}
            yield "ping", {}
        elif isinstance(ev, ReasoningDelta):
            yield from self._block("thinking", {"thinking": "", "signature": ""})
            self.thinking.append(ev.text)
            if not _omits_thinking(self.params):
                yield self._text("thinking_delta", "thinking", ev.text)
        elif isinstance(ev, Citations):
            self.citations += map(citation, ev.sources)
            if self.open == "text":
                yield from self._cite()
        elif isinstance(ev, TextDelta | ImageOutput):
            yield from self._block("text", {"text": ""})
            yield from self._cite()
            text = ev.text if isinstance(ev, TextDelta) else markdown_image(ev)
            yield self._text("text_delta", "text", text)
        elif isinstance(ev, ToolCallStart):
            yield from self._close()
            yield from self._open("tool_use", {"id": tool_use_id(ev.id), "name": ev.name})
        elif isinstance(ev, ToolCallDelta):
            yield self._delta({"type": "input_json_delta", "partial_json": ev.arguments})
        elif isinstance(ev, Usage):
            self.usage = ev
        elif isinstance(ev, Heartbeat):
            yield "ping", {}
        elif isinstance(ev, MessageStop):
            yield from self._close()
            yield "message_delta", self._end(ev)
            yield "message_stop", {}

    def _start_message(self) -> dict[str, Any]:
        usage = {"input_tokens": self.input_tokens, "output_tokens": 0}
        return _message_object(self.msg_id, self.params.model, [], None, None, usage)

    def _block(self, kind: str, empty: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        if self.open != kind:
            yield from self._close()
            yield from self._open(kind, empty)

    def _open(self, kind: str, body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        self.index += 1
        self.open = kind
        block = {"type": kind} | body | ({"input": {}} if kind == "tool_use" else {})
        yield "content_block_start", {"index": self.index, "content_block": block}

    def _close(self) -> Iterator[tuple[str, dict[str, Any]]]:
        if self.open is None:
            return
        if self.open == "thinking":
            sign = signature(self.msg_id, "".join(self.thinking))
            yield self._delta({"type": "signature_delta", "signature": sign})
            self.thinking = []
        yield "content_block_stop", {"index": self.index}
        self.open = None

    def _cite(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for found in self.citations:
            yield self._delta({"type": "citations_delta", "citation": found})
        self.citations = []

    def _delta(self, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {"index": self.index, "delta": delta}

    def _text(self, kind: str, key: str, text: str) -> tuple[str, str]:
        """A text or thinking delta, serialised from this block's template."""
        template = self.templates.get((kind, self.index))
        if template is None:
            body = {"type": "content_block_delta", "index": self.index}
            template = Template(body | {"delta": {"type": kind, key: HOLE}})
            self.templates[(kind, self.index)] = template
        return "content_block_delta", template.fill(text)

    def _end(self, stop: MessageStop) -> dict[str, Any]:
        delta = {"stop_reason": STOP_REASONS[stop.stop_reason], "stop_sequence": stop.stop_sequence}
        usage = _usage(self.usage, self.input_tokens)
        return {"delta": delta, "usage": usage}


def encode_completion(done: Completion, params: GenerationParams) -> dict[str, Any]:
    """The message object for a folded answer."""
    msg_id = IDS.encode(done.id)
    blocks: list[dict[str, Any]] = []
    if done.reasoning:
        sign = signature(msg_id, done.reasoning)
        shown = "" if _omits_thinking(params) else done.reasoning
        blocks.append({"type": "thinking", "thinking": shown, "signature": sign})
    text = "\n\n".join(t for t in [done.text, *map(markdown_image, done.images)] if t)
    if text:
        cited = {"citations": [citation(s) for s in done.sources]} if done.sources else {}
        blocks.append({"type": "text", "text": text} | cited)
    for call in done.tool_calls:
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_use_id(call.id),
                "name": call.name,
                "input": _input(call.arguments),
            }
        )
    usage = _usage(done.usage, 0)
    reason = STOP_REASONS[done.stop_reason]
    return _message_object(msg_id, params.model, blocks, reason, done.stop_sequence, usage)


def _message_object(
    msg_id: str,
    model: str,
    content: list[dict[str, Any]],
    stop_reason: str | None,
    stop_sequence: str | None,
    usage: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage | {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }


def _usage(usage: Usage | None, input_tokens: int) -> dict[str, Any]:
    if usage is None:
        return {"input_tokens": input_tokens, "output_tokens": 0}
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}


def _omits_thinking(params: GenerationParams) -> bool:
    """``thinking.display: "omitted"``: thinking blocks keep their signature, not their text."""
    return params.extra.get("thinking_display") == "omitted"


def _input(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except (ValueError, RecursionError):
        return {}


def signature(msg_id: str, thinking: str) -> str:
    """An opaque signature for a thinking block (Claude Code echoes it back; nobody checks)."""
    return hashlib.sha256(f"{msg_id}\n{thinking}".encode()).hexdigest()


def citation(source: Source) -> dict[str, Any]:
    """A web-search result as Anthropic's ``web_search_result_location`` citation."""
    return {
        "type": "web_search_result_location",
        "url": source.url,
        "title": source.title or None,
        "cited_text": source.snippet,
        "encrypted_index": "",
    }


# ------------------------------------------------------------------------------ errors


def error_body(err: errors.QwenfreeError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(err.kind, "api_error")
    return {"type": "error", "error": {"type": kind, "message": err.message}}


def encode_error(err: errors.QwenfreeError) -> tuple[int, dict[str, Any]]:
    """Status and body for an error raised before the response started."""
    return STATUS_OVERRIDES.get(err.kind, err.status), error_body(err)


def encode_stream_error(err: errors.QwenfreeError) -> SSEMessage:
    """``event: error`` for a stream that already started (no message_stop follows)."""
    return SSEMessage(data=error_body(err), event="error")


def encode_token_count(tokens: int) -> dict[str, Any]:
    """``POST /v1/messages/count_tokens``."""
    return {"input_tokens": tokens}


DIALECT = Dialect(
    name="anthropic",
    to_conversation=to_conversation,
    encode_events=encode_events,
    encode_completion=encode_completion,
    encode_error=encode_error,
    encode_stream_error=encode_stream_error,
    encode_models=models.encode_models,
    describe_model=models.describe_model,
    encode_token_count=encode_token_count,
    ids=IDS,
    thinking_optional=THINKING_OPTIONAL,
    error_request_id="request_id",
)
