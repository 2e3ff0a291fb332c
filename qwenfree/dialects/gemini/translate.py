"""Gemini generateContent <-> the neutral model. Pure functions, no Flask.

Request side: ``contents`` become messages and ``tools``/``toolConfig`` tool specs and the tool
choice (part by part in ``contents.py``, split out for size); ``generationConfig`` becomes the
params. Two neutral keys go into ``GenerationParams.extra``: ``include_thoughts`` (bool) and, in
JSON mode, ``json_schema`` (a JSON Schema; ``{}`` when the caller only asked for JSON).
Response side: one full GenerateContentResponse per SSE ``data:`` frame, never a comment, the
last one with ``finishReason`` and ``usageMetadata``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qwenfree import errors
from qwenfree.accumulate import Completion, ToolCall
from qwenfree.conversation import Conversation, GenerationParams
from qwenfree.dialects.common import Dialect, IdPrefix, markdown_image, unfence
from qwenfree.dialects.gemini import contents, models
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
from qwenfree.sse import HOLE, SSEMessage, Template

FINISH_REASONS = {
    StopReason.END_TURN: "STOP",
    StopReason.MAX_TOKENS: "MAX_TOKENS",
    StopReason.TOOL_USE: "STOP",  # Gemini signals calls by their parts, not the reason
    StopReason.STOP_SEQUENCE: "STOP",
    StopReason.CONTENT_FILTER: "SAFETY",
}
# HTTP status -> google.rpc status name
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# thinkingLevel -> thinking on/off (the same split as OpenAI's reasoning_effort)
THINKING_LEVELS = {"MINIMAL": False, "LOW": False, "MEDIUM": True, "HIGH": True}
IDS = IdPrefix("")  # responseId is the handle itself
THINKING_OPTIONAL = True  # gemini-cli asks every model to think
RPC_TYPE = "type.googleapis.com/google.rpc."


# ------------------------------------------------------------------------------ requests


def to_conversation(payload: Mapping[str, Any]) -> tuple[Conversation, GenerationParams]:
    """Translate a validated (camelized) generateContent body; ``model``/``stream`` are set."""
    if payload.get("cachedContent"):
        raise errors.InvalidRequest("cachedContent is not supported", param="cachedContent")
    messages = contents.messages(payload["contents"])
    if not any(m.role in ("user", "tool") for m in messages):
        raise errors.InvalidRequest(
            "contents must include a user turn with at least one part", param="contents"
        )
    tools, search = contents.tools(payload.get("tools") or ())
    choice, allowed = contents.tool_choice(payload.get("toolConfig"))
    if allowed:
        tools = tuple(t for t in tools if t.name in allowed)
    system = contents.system_text(payload.get("systemInstruction"))
    conversation = Conversation(system=system or None, messages=messages, tools=tools)
    return conversation, _params(payload, choice, search)


def _params(payload: Mapping[str, Any], choice: str | None, search: bool) -> GenerationParams:
    gen = payload.get("generationConfig") or {}
    think = gen.get("thinkingConfig") or {}
    thinking, budget = _thinking(think)
    extra: dict[str, object] = {"include_thoughts": bool(think.get("includeThoughts"))}
    schema = _response_schema(gen)
    if schema is not None:
        extra["json_schema"] = schema
    return GenerationParams(
        model=payload["model"],
        stream=bool(payload.get("stream")),
        max_tokens=gen.get("maxOutputTokens"),
        temperature=gen.get("temperature"),
        top_p=gen.get("topP"),
        stop=tuple(gen.get("stopSequences") or ()),
        tool_choice=choice,
        thinking=thinking,
        thinking_budget=budget,
        thinking_optional=THINKING_OPTIONAL,
        search=search,
        extra=extra,
    )


def _thinking(config: Mapping[str, Any]) -> tuple[bool | None, int | None]:
    """thinkingBudget 0 = off, -1 = on (dynamic), N = on with N tokens; else thinkingLevel."""
    budget, level = config.get("thinkingBudget"), config.get("thinkingLevel")
    if budget is not None:
        return (budget != 0), (budget if budget > 0 else None)
    if level:
        return THINKING_LEVELS.get(level.upper()), None
    return None, None


def _response_schema(gen: Mapping[str, Any]) -> dict[str, Any] | None:
    if str(gen.get("responseMimeType") or "").lower() != "application/json":
        return None
    schema = gen.get("responseJsonSchema") or gen.get("responseSchema") or {}
    return contents.json_schema(schema) if isinstance(schema, Mapping) else {}


# ------------------------------------------------------------------------------ responses


def encode_events(events: Iterable[object], params: GenerationParams) -> Iterator[SSEMessage]:
    """One full GenerateContentResponse per event worth sending; Heartbeat sends nothing."""
    stream = _Stream(params)
    for ev in events:
        yield from (SSEMessage(data=body) for body in stream.feed(ev))


@dataclass
class _Stream:
    params: GenerationParams
    response_id: str = ""
    usage: Usage | None = None
    sources: list[Source] = field(default_factory=list)
    calls: dict[int, ToolCall] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)  # JSON-mode text, sent unfenced at the end
    malformed: bool = False  # a call's arguments were not a JSON object
    templates: dict[bool, Template] = field(default_factory=dict)  # text chunks, by thought

    def feed(self, ev: object) -> Iterator[dict[str, Any] | str]:
        if self.calls and not isinstance(ev, (ToolCallStart, ToolCallDelta)):
            yield from self._flush_calls()
        if isinstance(ev, MessageStart):
            self.response_id = ev.id
            self.templates.clear()
        elif isinstance(ev, TextDelta):
            if "json_schema" in self.params.extra:
                self.held.append(ev.text)
            else:
                yield self._text(False, ev.text)
        elif isinstance(ev, ReasoningDelta) and self.params.extra.get("include_thoughts"):
            yield self._text(True, ev.text)
        elif isinstance(ev, ToolCallStart):
            self.calls[ev.index] = ToolCall(ev.id, ev.name)
        elif isinstance(ev, ToolCallDelta) and ev.index in self.calls:
            self.calls[ev.index].arguments += ev.arguments
        elif isinstance(ev, ImageOutput):
            yield self._body([{"text": markdown_image(ev)}])
        elif isinstance(ev, Citations):
            self.sources.extend(ev.sources)
        elif isinstance(ev, Usage):
            self.usage = ev
        elif isinstance(ev, MessageStop):
            yield from self._finish(ev.stop_reason)

    def _flush_calls(self) -> Iterator[dict[str, Any]]:
        parts, malformed = _call_parts(self.calls[i] for i in sorted(self.calls))
        self.calls.clear()
        self.malformed = self.malformed or malformed
        if parts:
            yield self._body(parts)

    def _finish(self, reason: StopReason) -> Iterator[dict[str, Any]]:
        if self.held:
            yield self._body([{"text": unfence("".join(self.held))}])
        finish = "MALFORMED_FUNCTION_CALL" if self.malformed else FINISH_REASONS[reason]
        yield self._body([], finish, self.usage, self.sources)

    def _text(self, thought: bool, text: str) -> str:
        """A text (or thought) chunk, serialised from this answer's template."""
        template = self.templates.get(thought)
        if template is None:
            part = {"text": HOLE, "thought": True} if thought else {"text": HOLE}
            template = self.templates[thought] = Template(self._body([part]))
        return template.fill(text)

    def _body(self, parts: list[dict[str, Any]], *last: Any) -> dict[str, Any]:
        """A response chunk; ``last`` = (finishReason, usage, sources) for the final one."""
        return _response(parts, self.params, self.response_id, *last)


def encode_completion(done: Completion, params: GenerationParams) -> dict[str, Any]:
    """The GenerateContentResponse for a folded answer."""
    parts: list[dict[str, Any]] = []
    if done.reasoning and params.extra.get("include_thoughts"):
        parts.append({"text": done.reasoning, "thought": True})
    text = "\n\n".join(t for t in [done.text, *map(markdown_image, done.images)] if t)
    if "json_schema" in params.extra:
        text = unfence(text)
    if text:
        parts.append({"text": text})
    calls, malformed = _call_parts(done.tool_calls)
    finish = "MALFORMED_FUNCTION_CALL" if malformed else FINISH_REASONS[done.stop_reason]
    return _response(parts + calls, params, done.id, finish, done.usage, done.sources)


def _call_parts(calls: Iterable[ToolCall]) -> tuple[list[dict[str, Any]], bool]:
    """functionCall parts; ``True`` when some call's arguments are not a JSON object."""
    parts: list[dict[str, Any]] = []
    for call in calls:
        try:
            args = json.loads(call.arguments or "{}")
        except (ValueError, RecursionError):
            return [], True
        if not isinstance(args, dict):
            return [], True
        part = {"name": call.name, "args": args} | ({"id": call.id} if call.id else {})
        parts.append({"functionCall": part})
    return parts, False


def _response(
    parts: list[dict[str, Any]],
    params: GenerationParams,
    response_id: str,
    finish: str | None = None,
    usage: Usage | None = None,
    sources: Sequence[Source] = (),
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    if sources:
        chunks = [{"web": {"uri": s.url, "title": s.title}} for s in sources]
        candidate["groundingMetadata"] = {"groundingChunks": chunks}
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        body["usageMetadata"] = _usage(usage)
    body["modelVersion"] = params.model
    body["responseId"] = response_id
    return body


def _usage(u: Usage) -> dict[str, int]:
    return {
        "promptTokenCount": u.input_tokens,
        "candidatesTokenCount": max(0, u.output_tokens - u.reasoning_tokens),
        "thoughtsTokenCount": u.reasoning_tokens,
        "totalTokenCount": u.input_tokens + max(u.output_tokens, u.reasoning_tokens),
    }


# ------------------------------------------------------------------------------ errors


def error_body(err: errors.QwenfreeError) -> dict[str, Any]:
    """A google.rpc.Status: code, message, status name, ErrorInfo and (if known) RetryInfo."""
    details: list[dict[str, Any]] = [
        {"@type": RPC_TYPE + "ErrorInfo", "reason": err.kind.upper(), "domain": "qwenfree"}
    ]
    if err.retry_after:
        delay = f"{max(1, round(err.retry_after))}s"
        details.append({"@type": RPC_TYPE + "RetryInfo", "retryDelay": delay})
    name = STATUS_NAMES.get(err.status, "INTERNAL")
    body = {"code": err.status, "message": err.message, "status": name, "details": details}
    return {"error": body}


def encode_error(err: errors.QwenfreeError) -> tuple[int, dict[str, Any]]:
    """Status and google.rpc.Status body for an error raised before the response started."""
    return err.status, error_body(err)


def encode_stream_error(err: errors.QwenfreeError) -> SSEMessage:
    """A ``data: {"error": ...}`` frame; google-genai raises APIError on it."""
    return SSEMessage(data=error_body(err))


def encode_token_count(tokens: int) -> dict[str, Any]:
    """``models/{model}:countTokens``."""
    details = [{"modality": "TEXT", "tokenCount": tokens}]
    return {"totalTokens": tokens, "promptTokensDetails": details}


DIALECT = Dialect(
    name="gemini",
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
    error_request_id=None,
)
