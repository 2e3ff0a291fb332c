"""marshmallow schemas for the Anthropic Messages bodies we accept (what Claude Code and the
anthropic SDK send). Unknown fields are ignored (``metadata``, ``context_management``,
``service_tier`` …); content blocks are checked for shape here and translated in translate.py,
where unknown block and tool types are skipped."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

ROLES = ("user", "assistant", "system")
CHOICE_TYPES = ("auto", "any", "tool", "none")
THINKING_TYPES = ("enabled", "disabled", "adaptive")
MAX_MESSAGES = 10_000
MAX_TOOLS = 1_000  # schema-level caps; the body as a whole is bounded by qwenfree.bounds
MAX_STOPS = 100


def _blocks(value: object) -> None:
    """A string, or a list of objects each with a string ``type``."""
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not all(isinstance(b, dict) for b in value):
        raise ValidationError("must be a string or a list of content blocks")
    for block in value:
        if not isinstance(block.get("type"), str):
            raise ValidationError("every content block needs a string 'type'")


class MessageSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    content = fields.Raw(required=True, validate=_blocks)


class ToolSchema(Schema):
    """A client tool (``custom``, or no type) or a server tool (typed, e.g. web_search_…)."""

    class Meta:
        unknown = EXCLUDE

    type = fields.String(load_default=None, allow_none=True)
    name = fields.String(load_default=None, allow_none=True)
    description = fields.String(load_default="", allow_none=True)
    input_schema = fields.Dict(load_default=None, allow_none=True)
    defer_loading = fields.Boolean(load_default=False, allow_none=True)

    @validates_schema
    def _client_tool(self, data: dict, **_: object) -> None:
        if data.get("type") not in (None, "custom"):
            return
        if not data.get("name"):
            raise ValidationError("a tool needs a 'name'", "name")
        if not isinstance(data.get("input_schema"), dict):
            raise ValidationError("a tool needs an 'input_schema' object", "input_schema")


class ToolChoiceSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    type = fields.String(required=True, validate=validate.OneOf(CHOICE_TYPES))
    name = fields.String(load_default=None, allow_none=True)
    disable_parallel_tool_use = fields.Boolean(load_default=False)

    @validates_schema
    def _named(self, data: dict, **_: object) -> None:
        if data["type"] == "tool" and not data.get("name"):
            raise ValidationError("tool_choice of type 'tool' needs a 'name'", "name")


class ThinkingSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    type = fields.String(required=True, validate=validate.OneOf(THINKING_TYPES))
    budget_tokens = fields.Integer(load_default=None, allow_none=True)
    display = fields.String(load_default=None, allow_none=True)  # "omitted": signatures only


class FormatSchema(Schema):
    """Structured output: ``{"type": "json_schema", "schema": {...}}``."""

    class Meta:
        unknown = EXCLUDE

    type = fields.String(required=True, validate=validate.OneOf(("json_schema",)))
    schema = fields.Dict(load_default=dict)


class OutputConfigSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    effort = fields.String(load_default=None, allow_none=True)
    format = fields.Nested(FormatSchema, load_default=None, allow_none=True)


class CountTokensSchema(Schema):
    """``POST /v1/messages/count_tokens``: the prompt half of a Messages request."""

    class Meta:
        unknown = EXCLUDE

    model = fields.String(required=True, validate=validate.Length(min=1))
    messages = fields.List(
        fields.Nested(MessageSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_MESSAGES),
    )
    system = fields.Raw(load_default=None, allow_none=True, validate=_blocks)
    tools = fields.List(
        fields.Nested(ToolSchema),
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_TOOLS),
    )
    tool_choice = fields.Nested(ToolChoiceSchema, load_default=None, allow_none=True)
    thinking = fields.Nested(ThinkingSchema, load_default=None, allow_none=True)
    output_config = fields.Nested(OutputConfigSchema, load_default=None, allow_none=True)
    output_format = fields.Nested(FormatSchema, load_default=None, allow_none=True)


class MessagesSchema(CountTokensSchema):
    """``POST /v1/messages``."""

    max_tokens = fields.Integer(required=True, validate=validate.Range(min=1))
    stream = fields.Boolean(load_default=False, allow_none=True)
    stop_sequences = fields.List(
        fields.String(), load_default=None, allow_none=True, validate=validate.Length(max=MAX_STOPS)
    )
    temperature = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0, 1))
    top_p = fields.Float(load_default=None, allow_none=True, validate=validate.Range(0, 1))
    top_k = fields.Integer(load_default=None, allow_none=True)
