"""JSON mode (OpenAI ``response_format``, Anthropic ``output_config.format``, Gemini
``responseMimeType``): the instruction, cleaning the answer (code fences, small syntax slips)
and checking it against the caller's JSON Schema.

The validator covers the keywords response schemas use in practice (type, enum, const,
properties, required, additionalProperties, items, length and range bounds, anyOf/oneOf/allOf,
local ``$ref``); other keywords are accepted unchecked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from qwenfree.tools.repair import loads_lenient, unfence

TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "number": (int, float),
    "integer": (int,),
}
BOUNDS = (
    ("minLength", str, lambda v, n: len(v) >= n, "shorter than"),
    ("maxLength", str, lambda v, n: len(v) <= n, "longer than"),
    ("minItems", list, lambda v, n: len(v) >= n, "fewer items than"),
    ("maxItems", list, lambda v, n: len(v) <= n, "more items than"),
    ("minimum", (int, float), lambda v, n: v >= n, "below"),
    ("maximum", (int, float), lambda v, n: v <= n, "above"),
)


def instruction(schema: Mapping[str, Any]) -> str:
    """Tell the model to answer with JSON only (matching ``schema`` when there is one)."""
    base = "Reply with only a JSON value: no words before or after it, and no code fence."
    if not schema:
        return base
    compact = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
    return f"{base} The JSON must satisfy this JSON Schema: {compact}"


def nudge(problem: str) -> str:
    """The follow-up sent when the answer was not the JSON asked for."""
    return (
        f"Your reply cannot be used: {problem}. Reply again with only the JSON value, with no "
        "words around it and no code fence."
    )


def check(text: str, schema: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Return (clean JSON text, None) or (None, what is wrong)."""
    value, ok = loads_lenient(text)
    if not ok:
        return None, "it is not valid JSON"
    problem = validate(value, schema)
    if problem:
        return None, problem
    plain = unfence(text)
    try:
        unchanged = json.loads(plain) == value
    except ValueError:
        unchanged = False
    return (plain if unchanged else json.dumps(value, ensure_ascii=False)), None


def validate(value: Any, schema: Any, root: Any = None, path: str = "$") -> str | None:
    """The first way ``value`` breaks ``schema``, or None."""
    if not isinstance(schema, Mapping):
        return None
    root = schema if root is None else root
    if isinstance(schema.get("$ref"), str):
        return validate(value, _resolve(root, schema["$ref"]), root, path)
    for check_fn in (_type, _enum, _bounds, _combinators, _object, _array):
        problem = check_fn(value, schema, root, path)
        if problem:
            return problem
    return None


def _type(value: Any, schema: Mapping[str, Any], root: Any, path: str) -> str | None:
    wanted = schema.get("type")
    if wanted is None:
        return None
    names = wanted if isinstance(wanted, list) else [wanted]
    for name in names:
        kinds = TYPES.get(str(name), (object,))
        if isinstance(value, bool) and name in ("number", "integer"):
            continue
        if isinstance(value, kinds) or (name == "integer" and _whole(value)):
            return None
    return f"{path} should be of type {' or '.join(map(str, names))}"


def _whole(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def _enum(value: Any, schema: Mapping[str, Any], root: Any, path: str) -> str | None:
    if "const" in schema and value != schema["const"]:
        return f"{path} should be {json.dumps(schema['const'])}"
    if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
        return f"{path} should be one of {json.dumps(schema['enum'], ensure_ascii=False)}"
    return None


def _bounds(value: Any, schema: Mapping[str, Any], root: Any, path: str) -> str | None:
    for key, kind, ok, words in BOUNDS:
        limit = schema.get(key)
        if isinstance(limit, int | float) and isinstance(value, kind):
            if not isinstance(value, bool) and not ok(value, limit):
                return f"{path} is {words} {limit}"
    return None


def _combinators(value: Any, schema: Mapping[str, Any], root: Any, path: str) -> str | None:
    for sub in schema.get("allOf") or ():
        if problem := validate(value, sub, root, path):
            return problem
    options = schema.get("anyOf") or schema.get("oneOf")
    if options and all(validate(value, sub, root, path) for sub in options):
        return f"{path} matches none of the allowed shapes"
    return None


def _object(value: Any, schema: Mapping[str, Any], root: Any, path: str) -> str | None:
    if not isinstance(value, dict):
        return None
    props = schema.get("properties") or {}
    for key in schema.get("required") or ():
        if key not in value:
            return f"{path} lacks the required key {json.dumps(key)}"
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        sub = props.get(key, None if key in props else extra)
        if sub is False:
            return f"{path} has the unexpected key {json.dumps(key)}"
        if problem := validate(item, sub, root, f"{path}.{key}"):
            return problem
    return None


def _array(value: Any, schema: Mapping[str, Any], root: Any, path: str) -> str | None:
    if not isinstance(value, list) or not isinstance(schema.get("items"), Mapping):
        return None
    for index, item in enumerate(value):
        if problem := validate(item, schema["items"], root, f"{path}[{index}]"):
            return problem
    return None


def _resolve(root: Any, ref: str) -> Any:
    """Follow a local ``#/a/b`` reference; anything else is accepted unchecked."""
    if not ref.startswith("#"):
        return {}
    node = root
    for key in filter(None, ref[1:].split("/")):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}
