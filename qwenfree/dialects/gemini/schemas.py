"""marshmallow schemas for the Gemini request bodies we accept.

Google's JSON parser takes both ``camelCase`` and ``snake_case`` field names (REST examples use
``system_instruction``, SDKs send ``systemInstruction``), so bodies are camelized first: the
views call ``camelize`` before loading (a walk over the whole body, kept apart from the
schema's so the gevent worker can serve others in between). Values that are the caller's own
data (function arguments, JSON schemas) are left untouched. Unknown fields are ignored: Google
adds optional fields all the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

# Keys whose values are caller data: never rename anything inside them.
OPAQUE = frozenset(
    {
        "args",
        "response",
        "parameters",
        "parametersJsonSchema",
        "responseSchema",
        "responseJsonSchema",
    }
)
THINKING_LEVELS = ("THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH")
MAX_CONTENTS = 10_000
MAX_TOOLS = 1_000  # schema-level caps; the body as a whole is bounded by qwenfree.bounds
MAX_STOPS = 100


def camel(key: str) -> str:
    """``system_instruction`` -> ``systemInstruction`` (camelCase keys pass unchanged)."""
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest) if rest and head else key


def camelize(value: Any) -> Any:
    """Rename every snake_case key to camelCase, except inside caller data (``OPAQUE``)."""
    if isinstance(value, list):
        return [camelize(v) for v in value]
    if not isinstance(value, Mapping):
        return value
    out = {}
    for key, item in value.items():
        name = camel(key) if isinstance(key, str) else key
        out[name] = item if name in OPAQUE else camelize(item)
    return out


def _parts(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise ValidationError("must be a list of part objects")


def _system(value: object) -> None:
    if value is None or isinstance(value, str):
        return
    if isinstance(value, dict):
        _parts(value.get("parts", []))
        return
    raise ValidationError("must be a Content object with 'parts' or a string")


def _level(value: str) -> bool:
    return value.upper() in THINKING_LEVELS


class ContentSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    role = fields.String(load_default="user", allow_none=True)
    parts = fields.Raw(load_default=list, validate=_parts)


class ThinkingConfigSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    includeThoughts = fields.Boolean(load_default=False, allow_none=True)
    thinkingBudget = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=-1)
    )
    thinkingLevel = fields.String(load_default=None, allow_none=True, validate=_level)


class GenerationConfigSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    temperature = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0, 2))
    topP = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0, 1))
    topK = fields.Float(load_default=None, allow_none=True)
    candidateCount = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Equal(1, error="must be 1")
    )
    maxOutputTokens = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1)
    )
    stopSequences = fields.List(
        fields.String(), load_default=list, allow_none=True, validate=validate.Length(max=MAX_STOPS)
    )
    responseMimeType = fields.String(load_default=None, allow_none=True)
    responseSchema = fields.Dict(load_default=None, allow_none=True)
    responseJsonSchema = fields.Raw(load_default=None, allow_none=True)
    thinkingConfig = fields.Nested(ThinkingConfigSchema, load_default=None, allow_none=True)


class GenerateContentSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    contents = fields.List(
        fields.Nested(ContentSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_CONTENTS),
    )
    systemInstruction = fields.Raw(load_default=None, allow_none=True, validate=_system)
    tools = fields.List(
        fields.Dict(), load_default=list, allow_none=True, validate=validate.Length(max=MAX_TOOLS)
    )
    toolConfig = fields.Dict(load_default=None, allow_none=True)
    generationConfig = fields.Nested(GenerationConfigSchema, load_default=None, allow_none=True)
    safetySettings = fields.Raw(load_default=None, allow_none=True)  # accepted, ignored
    cachedContent = fields.String(load_default=None, allow_none=True)


class CountTokensSchema(Schema):
    """``contents`` alone, or a whole ``generateContentRequest``."""

    class Meta:
        unknown = EXCLUDE

    contents = fields.List(fields.Nested(ContentSchema), load_default=None, allow_none=True)
    generateContentRequest = fields.Dict(load_default=None, allow_none=True)
