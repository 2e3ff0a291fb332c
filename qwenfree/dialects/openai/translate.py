"""OpenAI chat completions <-> the neutral model. Pure functions, no Flask."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from qwenfree import errors
from qwenfree.accumulate import Completion
from qwenfree.conversation import (
    Conversation,
    FilePart,
    GenerationParams,
    ImagePart,
    Message,
    Part,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)
from qwenfree.dialects.common import Dialect, IdPrefix, markdown_image
from qwenfree.dialects.openai import models
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

IDS = IdPrefix("chatcmpl-")  # completion ids; ``conversation_id`` hands one back
THINKING_OPTIONAL = False  # reasoning_effort on a model that cannot think is refused
FINISH_REASONS = {
    StopReason.END_TURN: "stop",
    StopReason.MAX_TOKENS: "length",
    StopReason.TOOL_USE: "tool_calls",
    StopReason.STOP_SEQUENCE: "stop",
    StopReason.CONTENT_FILTER: "content_filter",
}
# neutral error kind -> (OpenAI error type, code)
ERROR_TYPES = {
    "invalid_request": ("invalid_request_error", None),
    "unauthorized": ("invalid_request_error", "invalid_api_key"),
    "model_not_found": ("invalid_request_error", "model_not_found"),
    "not_found": ("invalid_request_error", "not_found"),
    "method_not_allowed": ("invalid_request_error", "method_not_allowed"),
    "payload_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limited": ("rate_limit_error", "rate_limit_exceeded"),
    "no_token": ("rate_limit_error", "rate_limit_exceeded"),
    "token_rejected": ("server_error", "upstream_token_rejected"),
    "upstream_rejected": ("invalid_request_error", "upstream_rejected"),
    "content_filter": ("invalid_request_error", "content_filter"),
    "chat_not_found": ("invalid_request_error", "conversation_not_found"),
    "upstream_timeout": ("server_error", "timeout"),
    "upstream_challenged": ("server_error", "upstream_challenged"),
    "upstream_empty": ("server_error", "upstream_empty"),
    "context_length_exceeded": ("invalid_request_error", "context_length_exceeded"),
    "invalid_model_output": ("server_error", "invalid_model_output"),
}
# Content parts that carry a file (images have their own ``image_url`` part).
MEDIA_PARTS = ("file", "input_audio", "video_url", "input_video")
AUDIO_FORMATS = {"mp3": "audio/mpeg", "wav": "audio/wav"}
EFFORT_THINKS = {
    "none": False,
    "minimal": False,
    "low": False,
    "medium": True,
    "high": True,
    "xhigh": True,
}


def to_conversation(payload: Mapping[str, Any]) -> tuple[Conversation, GenerationParams]:
    """Translate a validated chat-completions body."""
    system: list[str] = []
    messages: list[Message] = []
    for raw in payload["messages"]:
        role = raw["role"]
        if role in ("system", "developer"):
            system.append(_text_of(raw.get("content")))
        elif role in ("tool", "function"):
            result = ToolResultPart(
                raw.get("tool_call_id") or raw.get("name") or "",
                _text_of(raw.get("content")),
                name=raw.get("name") or "",
            )
            messages.append(Message("tool", (result,)))
        else:
            parts = _parts(raw.get("content"))
            for call in raw.get("tool_calls") or ():
                fn = call["function"]
                arguments = fn.get("arguments")
                arguments = arguments if isinstance(arguments, str) else json.dumps(arguments)
                parts.append(ToolCallPart(call.get("id") or "", fn["name"], arguments or "{}"))
            messages.append(Message(role, tuple(parts)))
    if not any(m.role in ("user", "tool") for m in messages):
        raise errors.InvalidRequest(
            "messages must contain at least one user message", param="messages"
        )
    conversation = Conversation(
        system="\n\n".join(s for s in system if s) or None,
        messages=tuple(messages),
        tools=tuple(
            _tool(t["function"]) for t in payload.get("tools") or () if t["type"] == "function"
        ),
    )
    return conversation, _params(payload)


def _params(payload: Mapping[str, Any]) -> GenerationParams:
    thinking = payload.get("enable_thinking")
    if thinking is None and payload.get("reasoning_effort"):
        thinking = EFFORT_THINKS[payload["reasoning_effort"]]
    stop = payload.get("stop")
    stream_options = payload.get("stream_options") or {}
    choice = payload.get("tool_choice")
    if isinstance(choice, Mapping):
        choice = choice["function"]["name"]
    extra: dict[str, object] = {"include_usage": bool(stream_options.get("include_usage"))}
    schema = _json_schema(payload.get("response_format"))
    if schema is not None:
        extra["json_schema"] = schema
    return GenerationParams(
        model=payload["model"],
        stream=bool(payload.get("stream")),
        max_tokens=payload.get("max_completion_tokens") or payload.get("max_tokens"),
        temperature=payload.get("temperature"),
        top_p=payload.get("top_p"),
        stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
        tool_choice=choice,
        thinking=thinking,
        thinking_budget=payload.get("thinking_budget"),
        thinking_optional=THINKING_OPTIONAL,
        parallel_tool_calls=payload.get("parallel_tool_calls") is not False,
        search=payload.get("web_search_options") is not None,
        continuation=IDS.decode(payload.get("conversation_id")),
        extra=extra,
    )


def _json_schema(response_format: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """JSON mode's neutral form: the schema to satisfy (an object for ``json_object``)."""
    kind = (response_format or {}).get("type")
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        return response_format["json_schema"].get("schema") or {}  # type: ignore[index]
    return None


def _parts(content: Any) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [TextPart(content)]
    parts: list[Part] = []
    for part in content:
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(TextPart(part["text"]))
        elif kind == "image_url":
            url = _url(part.get("image_url"), "image_url")
            head, _, data = url.partition(",")
            if url.startswith("data:") and head.endswith(";base64"):
                parts.append(ImagePart(head[5:].split(";")[0], data=data))
            else:
                parts.append(ImagePart(url=url))
        elif kind in MEDIA_PARTS:
            parts.append(_file_part(kind, part))
    return parts


def _url(value: Any, kind: str) -> str:
    """The URL of a ``{url}`` object (or a bare string) in a content part."""
    url = value.get("url") if isinstance(value, Mapping) else value
    if not isinstance(url, str) or not url.strip():
        raise errors.InvalidRequest(f"{kind} parts need a 'url'", param="messages")
    return url.strip()


def _file_part(kind: str, part: Mapping[str, Any]) -> FilePart:
    """``file`` (``file_data`` base64 or data URL, ``file_url``; also the original project's
    ``{"file_url": {"url"}}``), ``input_audio`` and ``video_url`` parts as files to attach."""
    if kind == "input_audio":
        audio = part.get("input_audio")
        audio = audio if isinstance(audio, Mapping) else {}
        data, fmt = audio.get("data"), str(audio.get("format") or "wav").lower()
        if not isinstance(data, str) or not data:
            raise errors.InvalidRequest("input_audio parts need base64 'data'", param="messages")
        return FilePart(AUDIO_FORMATS.get(fmt, f"audio/{fmt}"), data=data)
    if kind != "file":
        return FilePart(url=_url(part.get(kind), kind))
    spec = part.get("file") if isinstance(part.get("file"), Mapping) else {}
    name = str(spec.get("filename") or "")
    if part.get("file_url") is not None or spec.get("file_url"):
        return FilePart(url=_url(part.get("file_url") or spec.get("file_url"), kind), name=name)
    data = spec.get("file_data")
    if not isinstance(data, str) or not data:
        raise errors.InvalidRequest(
            "file parts need 'file_data' (base64 or a data: URL) or a 'file_url'; "
            "file ids of OpenAI's Files API cannot be used here",
            param="messages",
        )
    if data.startswith("data:"):
        return FilePart(url=data, name=name)
    return FilePart(data=data, name=name)


def _text_of(content: Any) -> str:
    return "".join(p.text for p in _parts(content) if isinstance(p, TextPart))


def _tool(fn: Mapping[str, Any]) -> ToolSpec:
    return ToolSpec(fn["name"], str(fn.get("description") or ""), fn.get("parameters") or {})


def encode_events(events: Iterable[object], params: GenerationParams) -> Iterator[SSEMessage]:
    """Translate neutral events into chat.completion.chunk messages, ending with [DONE]."""
    chunk_id, created = IDS.encode(""), int(time.time())
    usage: Usage | None = None
    wrote_text = False

    templates: dict[str, Template] = {}  # per delta field, for this chunk id

    def chunk(delta: dict[str, Any], finish: str | None = None) -> SSEMessage:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return SSEMessage(data=_envelope(chunk_id, created, params.model, [choice]))

    def text(field: str, value: str) -> SSEMessage:
        template = templates.get(field)
        if template is None:
            template = templates[field] = Template(chunk({field: HOLE}).data)
        return SSEMessage(data=template.fill(value))

    for ev in events:
        if isinstance(ev, MessageStart):
            chunk_id = IDS.encode(ev.id)
            templates.clear()
            yield chunk({"role": "assistant", "content": ""})
        elif isinstance(ev, TextDelta):
            wrote_text = True
            yield text("content", ev.text)
        elif isinstance(ev, ReasoningDelta):
            yield text("reasoning_content", ev.text)
        elif isinstance(ev, ImageOutput):
            yield chunk({"content": ("\n\n" if wrote_text else "") + markdown_image(ev)})
            wrote_text = True
        elif isinstance(ev, Citations):
            yield chunk({"annotations": _annotations(ev.sources)})
        elif isinstance(ev, ToolCallStart):
            call = {
                "index": ev.index,
                "id": ev.id,
                "type": "function",
                "function": {"name": ev.name, "arguments": ""},
            }
            yield chunk({"tool_calls": [call]})
        elif isinstance(ev, ToolCallDelta):
            yield chunk(
                {"tool_calls": [{"index": ev.index, "function": {"arguments": ev.arguments}}]}
            )
        elif isinstance(ev, Usage):
            usage = ev
        elif isinstance(ev, Heartbeat):
            yield SSEMessage(comment="ping")
        elif isinstance(ev, MessageStop):
            yield chunk({}, FINISH_REASONS[ev.stop_reason])
            if params.extra.get("include_usage") and usage is not None:
                data = _envelope(chunk_id, created, params.model, [])
                data["usage"] = _usage(usage)
                yield SSEMessage(data=data)
            yield SSEMessage(data="[DONE]")


def encode_completion(done: Completion, params: GenerationParams) -> dict[str, Any]:
    """The chat.completion object for a folded answer."""
    text = done.text
    for image in done.images:
        text += ("\n\n" if text else "") + markdown_image(image)
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if done.reasoning:
        message["reasoning_content"] = done.reasoning
    if done.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in done.tool_calls
        ]
    if done.sources:
        message["annotations"] = _annotations(done.sources)
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": FINISH_REASONS[done.stop_reason],
    }
    body = _envelope(IDS.encode(done.id), int(time.time()), params.model, [choice])
    body["object"] = "chat.completion"
    if done.usage is not None:
        body["usage"] = _usage(done.usage)
    return body


def encode_error(err: errors.QwenfreeError) -> tuple[int, dict[str, Any]]:
    """Status and body for an error raised before the response started."""
    kind_type, code = ERROR_TYPES.get(err.kind, ("server_error", "upstream_error"))
    return err.status, {
        "error": {"message": err.message, "type": kind_type, "param": err.param, "code": code}
    }


def encode_stream_error(err: errors.QwenfreeError) -> SSEMessage:
    """The in-band error event for a stream that already started (no [DONE] follows)."""
    return SSEMessage(data=encode_error(err)[1])


def _envelope(cid: str, created: int, model: str, choices: list[Any]) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": choices,
    }


def _usage(u: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    }


def _annotations(sources: Iterable[Source]) -> list[dict[str, Any]]:
    return [
        {
            "type": "url_citation",
            "url_citation": {"url": s.url, "title": s.title, "start_index": 0, "end_index": 0},
        }
        for s in sources
    ]


def encode_token_count(tokens: int) -> dict[str, Any]:
    """A prompt's size in the shape of OpenAI's input-token count (no route serves it yet)."""
    return {"object": "response.input_tokens", "input_tokens": tokens}


DIALECT = Dialect(
    name="openai",
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
