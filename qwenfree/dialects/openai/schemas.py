"""marshmallow schemas for the OpenAI request bodies we accept. Unknown fields are ignored:
SDKs add optional parameters all the time."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MAX_MESSAGES = 10_000
MAX_TOOLS = 1_000  # schema-level caps; the body as a whole is bounded by qwenfree.bounds
MAX_STOPS = 100
CHOICE_MODES = ("none", "auto", "required")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")


def _content(value: object) -> None:
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list) or not all(isinstance(p, dict) for p in value):
        raise ValidationError("must be a string or a list of content parts")
    for part in value:
        if not isinstance(part.get("type"), str):
            raise ValidationError("every content part needs a string 'type'")


class FunctionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=256))
    arguments = fields.Raw(load_default="")


class ToolCallSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(load_default="")
    type = fields.String(load_default="function")
    function = fields.Nested(FunctionSchema, required=True)


class MessageSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    content = fields.Raw(load_default=None, allow_none=True, validate=_content)
    name = fields.String(load_default=None, allow_none=True)
    tool_calls = fields.List(
        fields.Nested(ToolCallSchema),
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_TOOLS),
    )
    tool_call_id = fields.String(load_default=None, allow_none=True)


class ToolSchema(Schema):
    """A tool; types other than ``function`` (custom, built-in) are accepted and ignored."""

    class Meta:
        unknown = EXCLUDE

    type = fields.String(load_default="function")
    function = fields.Dict(load_default=None, allow_none=True)

    @validates_schema
    def _named(self, data: dict, **_: object) -> None:
        if data["type"] != "function":
            return
        fn = data.get("function") or {}
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise ValidationError("a function tool needs a 'name'", "function")
        if not isinstance(fn.get("parameters") or {}, dict):
            raise ValidationError("'parameters' must be a JSON Schema object", "function")


def _tool_choice(value: object) -> None:
    if value is None or value in CHOICE_MODES:
        return
    fn = value.get("function") if isinstance(value, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
        raise ValidationError(
            "must be 'none', 'auto', 'required' or {'type': 'function', 'function': {'name': …}}"
        )


def _response_format(value: dict) -> None:
    if value.get("type") not in RESPONSE_FORMATS:
        raise ValidationError(f"'type' must be one of {', '.join(RESPONSE_FORMATS)}")
    if value["type"] == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
            raise ValidationError("json_schema needs a 'json_schema' object with a 'schema'")


class StreamOptionsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    include_usage = fields.Boolean(load_default=False)


class ChatCompletionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    model = fields.String(load_default=None, allow_none=True)
    messages = fields.List(
        fields.Nested(MessageSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_MESSAGES),
    )
    stream = fields.Boolean(load_default=False, allow_none=True)
    stream_options = fields.Nested(StreamOptionsSchema, load_default=None, allow_none=True)
    max_tokens = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    max_completion_tokens = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1)
    )
    temperature = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0, 2))
    top_p = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0, 1))
    stop = fields.Raw(load_default=None, allow_none=True)
    tools = fields.List(
        fields.Nested(ToolSchema),
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_TOOLS),
    )
    tool_choice = fields.Raw(load_default=None, allow_none=True, validate=_tool_choice)
    parallel_tool_calls = fields.Boolean(load_default=None, allow_none=True)
    response_format = fields.Dict(load_default=None, allow_none=True, validate=_response_format)
    enable_thinking = fields.Boolean(load_default=None, allow_none=True)
    thinking_budget = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1)
    )
    reasoning_effort = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(("none", "minimal", "low", "medium", "high", "xhigh")),
    )
    web_search_options = fields.Dict(load_default=None, allow_none=True)
    conversation_id = fields.String(load_default=None, allow_none=True)

    @validates_schema
    def _stop(self, data: dict, **_: object) -> None:
        stop = data.get("stop")
        if stop is None or isinstance(stop, str):
            return
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise ValidationError("must be a string or a list of strings", "stop")
        if len(stop) > MAX_STOPS:
            raise ValidationError(f"at most {MAX_STOPS} stop strings", "stop")
