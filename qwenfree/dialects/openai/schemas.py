"""marshmallow schemas for the OpenAI request bodies we accept. Unknown fields are ignored:
SDKs add optional parameters all the time."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MAX_MESSAGES = 10_000


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
    tool_calls = fields.List(fields.Nested(ToolCallSchema), load_default=None, allow_none=True)
    tool_call_id = fields.String(load_default=None, allow_none=True)


class ToolSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    type = fields.String(load_default="function")
    function = fields.Dict(required=True)

    @validates_schema
    def _named(self, data: dict, **_: object) -> None:
        if not isinstance(data["function"].get("name"), str) or not data["function"]["name"]:
            raise ValidationError("a function tool needs a 'name'", "function")


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
    tools = fields.List(fields.Nested(ToolSchema), load_default=None, allow_none=True)
    tool_choice = fields.Raw(load_default=None, allow_none=True)
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
