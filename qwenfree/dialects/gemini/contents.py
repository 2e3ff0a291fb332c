"""Gemini ``Content``/``Part``/``Tool`` JSON -> neutral messages, parts and tool specs.

Pure functions, no Flask; used by ``translate.to_conversation``. Function-call ids are optional
in Gemini, so calls and their responses are paired by name in order when ids are missing.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    ToolSpec,
)
from qwenfree.sse import dumps

ROLES = {"user": "user", "model": "assistant", "function": "user", "tool": "user"}
CHOICE_MODES = {
    "MODE_UNSPECIFIED": "auto",
    "AUTO": "auto",
    "VALIDATED": "auto",
    "ANY": "required",
    "NONE": "none",
}
SEARCH_TOOLS = ("googleSearch", "googleSearchRetrieval")
TEXT_MIME = re.compile(r"text/.*|application/(json|xml|x-yaml|yaml|javascript|x-python)")


def json_schema(schema: Any) -> Any:
    """Turn Gemini's OpenAPI-style Schema (``type: OBJECT``, ``nullable``) into JSON Schema."""
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            out[key] = [str(t).lower() for t in value] if isinstance(value, list) else value
            out[key] = str(value).lower() if isinstance(value, str) else out[key]
        elif key in ("properties", "$defs", "definitions") and isinstance(value, Mapping):
            out[key] = {name: json_schema(sub) for name, sub in value.items()}
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems") and isinstance(value, list):
            out[key] = [json_schema(sub) for sub in value]
        elif key in ("items", "additionalProperties", "not"):
            out[key] = json_schema(value)
        elif key not in ("nullable", "propertyOrdering"):
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def system_text(system: Any) -> str:
    """``systemInstruction`` as text: a string, or a Content's text parts joined by newlines."""
    if isinstance(system, str):
        return system
    parts = (system or {}).get("parts") or ()
    return "\n".join(p["text"] for p in parts if isinstance(p.get("text"), str) and p["text"])


@dataclass
class _CallIds:
    """Pairs functionResponse parts with the calls they answer: Gemini's ids are optional."""

    waiting: dict[str, list[str]] = field(default_factory=dict)
    count: int = 0

    def call(self, raw: Any) -> ToolCallPart:
        name = _function_name(raw, "functionCall")
        args = raw.get("args") if raw.get("args") is not None else {}
        if not isinstance(args, Mapping):
            raise errors.InvalidRequest("functionCall.args must be an object", param="contents")
        call_id = str(raw.get("id") or f"call_{self.count}_{name}")
        self.count += 1
        self.waiting.setdefault(name, []).append(call_id)
        return ToolCallPart(call_id, name, dumps(args))

    def result(self, raw: Any) -> ToolResultPart:
        name = _function_name(raw, "functionResponse")
        waiting = self.waiting.get(name) or []
        call_id = str(raw.get("id") or (waiting[0] if waiting else name))
        if call_id in waiting:
            waiting.remove(call_id)
        response = raw.get("response")
        if isinstance(response, Mapping) and set(response) == {"output"}:
            content = response["output"]
        else:
            content = response
        failed = isinstance(response, Mapping) and "error" in response and "output" not in response
        text = content if isinstance(content, str) else dumps(content)
        return ToolResultPart(call_id, text, is_error=failed, name=name)


def _function_name(raw: Any, kind: str) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    if not isinstance(name, str) or not name:
        raise errors.InvalidRequest(f"{kind} parts need a 'name'", param="contents")
    return name


def messages(contents: Iterable[Mapping[str, Any]]) -> tuple[Message, ...]:
    """Every content's messages, in order."""
    calls = _CallIds()
    return tuple(m for content in contents for m in _messages(content, calls))


def _messages(content: Mapping[str, Any], calls: _CallIds) -> list[Message]:
    """One Gemini content -> messages; function responses become a ``tool`` message first."""
    role = ROLES.get(str(content.get("role") or "user"))
    if role is None:
        raise errors.InvalidRequest(
            f"contents[].role must be 'user' or 'model', not {content.get('role')!r}",
            param="contents",
        )
    parts: list[Part] = []
    results: list[Part] = []
    for raw in content["parts"]:
        part = _part(raw, calls)
        if part is not None:
            (results if isinstance(part, ToolResultPart) else parts).append(part)
    out = [Message("tool", tuple(results))] if results else []
    return out + ([Message(role, tuple(parts))] if parts else [])  # type: ignore[arg-type]


def _part(raw: Mapping[str, Any], calls: _CallIds) -> Part | None:
    """One part; None for parts with nothing to say upstream (signatures, unknown kinds)."""
    if "functionCall" in raw:
        return calls.call(raw["functionCall"])
    if "functionResponse" in raw:
        return calls.result(raw["functionResponse"])
    if "inlineData" in raw:
        return _inline(raw["inlineData"])
    if "fileData" in raw:
        return _file(raw["fileData"])
    text = raw.get("text")
    if text is not None and not isinstance(text, str):
        raise errors.InvalidRequest("part.text must be a string", param="contents")
    if text:
        return ReasoningPart(text) if raw.get("thought") else TextPart(text)
    code = _obj(raw.get("executableCode")).get("code")
    output = _obj(raw.get("codeExecutionResult")).get("output")
    found = code or output
    return TextPart(found) if isinstance(found, str) else None


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _inline(blob: Any) -> Part:
    mime = str(_obj(blob).get("mimeType") or "").lower()
    data = _obj(blob).get("data")
    if not isinstance(data, str) or not data:
        raise errors.InvalidRequest("inlineData needs base64 'data'", param="contents")
    if mime.startswith("image/"):
        return ImagePart(mime, data=data)
    if not TEXT_MIME.fullmatch(mime):
        return FilePart(mime, data=data)  # PDF, audio, video...: attached; its bytes decide
    try:
        return TextPart(base64.b64decode(data, validate=True).decode("utf-8", "replace"))
    except (binascii.Error, ValueError):
        raise errors.InvalidRequest(
            "inlineData.data is not valid base64", param="contents"
        ) from None


def _file(ref: Any) -> Part:
    uri = _obj(ref).get("fileUri")
    mime = str(_obj(ref).get("mimeType") or "").lower()
    if not isinstance(uri, str) or not uri:
        raise errors.InvalidRequest("fileData needs a 'fileUri'", param="contents")
    if mime.startswith("image/"):
        return ImagePart(mime, url=uri)
    return FilePart(mime, url=uri, name=str(_obj(ref).get("displayName") or ""))


def tools(raw_tools: Iterable[Mapping[str, Any]]) -> tuple[tuple[ToolSpec, ...], bool]:
    """Function declarations, and whether a Google Search tool asks for web search."""
    specs: list[ToolSpec] = []
    search = False
    for tool in raw_tools:
        search = search or any(kind in tool for kind in SEARCH_TOOLS)
        declarations = tool.get("functionDeclarations") or []
        if not isinstance(declarations, list):
            raise errors.InvalidRequest("functionDeclarations must be a list", param="tools")
        for fn in declarations:
            name = fn.get("name") if isinstance(fn, Mapping) else None
            if not isinstance(name, str) or not name:
                raise errors.InvalidRequest("functionDeclarations need a 'name'", param="tools")
            schema = fn.get("parametersJsonSchema") or fn.get("parameters") or {"type": "object"}
            if not isinstance(schema, Mapping):
                raise errors.InvalidRequest(
                    f"the parameters of {name} must be a JSON Schema object", param="tools"
                )
            specs.append(ToolSpec(name, str(fn.get("description") or ""), json_schema(schema)))
    return tuple(specs), search


def tool_choice(config: Any) -> tuple[str | None, frozenset[str]]:
    """``toolConfig.functionCallingConfig`` -> (neutral tool_choice, allowed function names)."""
    calling = (config or {}).get("functionCallingConfig") if isinstance(config, Mapping) else None
    if not isinstance(calling, Mapping):
        return None, frozenset()
    mode = str(calling.get("mode") or "AUTO").upper()
    if mode not in CHOICE_MODES:
        raise errors.InvalidRequest(
            f"functionCallingConfig.mode must be one of {', '.join(CHOICE_MODES)}",
            param="toolConfig",
        )
    allowed = tuple(str(n) for n in calling.get("allowedFunctionNames") or ())
    choice = CHOICE_MODES[mode]
    if choice == "required" and len(allowed) == 1:
        choice = allowed[0]
    return choice, frozenset(allowed)
