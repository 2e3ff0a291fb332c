"""The tool-calling protocol as the model sees it: the one place for markers and prompt text.

chat.qwen.ai has no client-side function calling, so tools are described in the prompt and the
model writes calls as text. A call is a block whose first line starts a line::

    <tool_use name="Write">
    {"file_path": "/tmp/a.txt", "content": "hi"}
    </tool_use>

The tag is deliberately not Qwen's native ``<tool_call>``: the web chat intercepts that markup
for its own tools and answers "Tool X does not exists." Results travel back as
``<tool_result id=… name=…>`` blocks. The wording below is tuned for Qwen models: short
numbered rules, the format shown once literally, the choice restated at the end of the prompt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from qwenfree.conversation import ToolResultPart, ToolSpec

TAG = "tool_use"
RESULT_TAG = "tool_result"
OPEN_PREFIX = "<" + TAG
CLOSE = "</" + TAG + ">"
RESULT_PREFIX = "<" + RESULT_TAG
# The whole opening line: the name, then attributes the model may imitate from history (ignored).
OPEN_LINE = re.compile(
    r'<tool_use\s+name\s*=\s*"([^"\n]{1,200})"(?:\s+[\w-]+\s*=\s*"[^"\n]*")*\s*>'
)
MAX_OPEN_LINE = 400  # a longer candidate line is prose, not an opening tag
CHOICE_DIRECTIVES = {
    "auto": "",
    "required": "In this reply you must call at least one tool.",
}

HEADER = """# Tools

You can use tools in this conversation. Each tool is listed below with a JSON Schema for its \
arguments.
"""
RULES = """# How to call a tool

To call a tool, write a call block like this one. Its first line starts a new line, the \
arguments are a single JSON object, and the last line closes the block:

<tool_use name="TOOL_NAME">
{"argument": "value"}
</tool_use>

Rules:
1. Call only the tools listed above, by their exact name, with arguments that match the \
tool's schema. Inside JSON strings escape quotes as \\" and line breaks as \\n.
2. You may write a short sentence before a call. {parallel}
3. After your last call block, stop writing. Never write a tool result yourself: each result \
comes back to you in the next message inside a <tool_result> block.
4. Do not put call blocks inside code fences, and use no other tool-call format.
5. When you need no tool, answer normally, without any call block."""
PARALLEL = "To call several tools at once, write one block per call, one after another."
SINGLE = "Call at most one tool per reply."
NO_TOOLS = "Tools are not available for this reply: answer in plain text, without call blocks."


def catalog(tools: Iterable[ToolSpec], parallel: bool, description_chars: int = 0) -> str:
    """The tool descriptions (each cut to ``description_chars`` when > 0) and the calling
    rules, for the system part of the prompt."""
    entries = [_describe(t, description_chars) for t in tools]
    rules = RULES.replace("{parallel}", PARALLEL if parallel else SINGLE)
    return "\n".join([HEADER, *entries, "", rules])


def directive(choice: str) -> str:
    """What this reply must do, in one sentence ("" when the model may choose freely)."""
    if choice == "none":
        return NO_TOOLS
    if choice in CHOICE_DIRECTIVES:
        return CHOICE_DIRECTIVES[choice]
    return f'In this reply you must call the tool "{choice}".'


def reminder(choice: str) -> str:
    """The closing note of a prompt with tools: the format again, and the choice."""
    if choice == "none":
        return NO_TOOLS
    note = (
        'Reminder: to call a tool, start a line with <tool_use name="TOOL_NAME">, put the JSON '
        "arguments on the next lines, close with </tool_use>, then stop."
    )
    return " ".join(x for x in (note, directive(choice)) if x)


def nudge(choice: str) -> str:
    """The follow-up sent when a call was required but the reply only talked."""
    target = "one of the tools" if choice in ("auto", "required") else f'the tool "{choice}"'
    return (
        f"Your reply did not call a tool, but a tool call is required now. Reply with only a "
        f"call block for {target}, exactly in this format:\n\n"
        f'<tool_use name="TOOL_NAME">\n{{"argument": "value"}}\n</tool_use>'
    )


def render_call(name: str, arguments_json: str, call_id: str = "") -> str:
    """A call as the model writes it (earlier calls are replayed this way in history)."""
    attrs = f'name="{_attr(name)}"' + (f' id="{_attr(call_id)}"' if call_id else "")
    return f"<{TAG} {attrs}>\n{_compact(arguments_json)}\n{CLOSE}"


def render_result(part: ToolResultPart, name: str = "") -> str:
    """A tool's result as the model reads it."""
    attrs = [f'id="{_attr(part.tool_call_id)}"'] if part.tool_call_id else []
    if name or part.name:
        attrs.append(f'name="{_attr(part.name or name)}"')
    if part.is_error:
        attrs.append('error="true"')
    return f"<{RESULT_TAG} {' '.join(attrs)}>\n{part.content}\n</{RESULT_TAG}>"


def _describe(tool: ToolSpec, description_chars: int) -> str:
    schema = _dumps(_strip_meta(tool.parameters) or {"type": "object"})
    description = shorten(tool.description.strip(), description_chars) or "(no description)"
    return (
        f'<tool name="{_attr(tool.name)}">\n{description}\nArguments JSON Schema: {schema}\n</tool>'
    )


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to about ``limit`` characters at a paragraph or sentence end (0: keep)."""
    if limit <= 0 or len(text) <= limit:
        return text
    head = text[:limit]
    for stop in ("\n\n", "\n", ". "):
        at = head.rfind(stop)
        if at >= limit // 2:
            head = head[: at + 1]
            break
    return head.rstrip() + " […]"


def _strip_meta(schema: Mapping[str, object]) -> dict[str, object]:
    """Drop keys that only cost bytes (``$schema``) from the top of a schema."""
    return {k: v for k, v in schema.items() if k != "$schema"}


def _compact(arguments_json: str) -> str:
    try:
        return _dumps(json.loads(arguments_json))
    except (TypeError, ValueError, RecursionError):  # the caller's text, nested past the parser
        return arguments_json


def _dumps(value: object) -> str:
    # Compact: every byte counts against the upstream's request size limit.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _attr(value: str) -> str:
    return value.replace('"', "'").replace("\n", " ")
