"""JSON mode (OpenAI ``response_format``, Anthropic ``output_config.format``, Gemini
``responseMimeType``): the instruction, cleaning the answer (code fences, small syntax slips)
and checking it against the caller's JSON Schema.

The validator covers the keywords response schemas use in practice (type, enum, const,
properties, required, additionalProperties, items, length and range bounds, anyOf/oneOf/allOf,
local ``$ref``); other keywords are accepted unchecked. The schema is the caller's and the
answer the model's, so both are checked within bounds: ``check_schema`` refuses, at request
time, schemas whose ``$ref``s loop or explode; ``validate`` stops after ``STEP_BUDGET`` steps.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from qwenfree import errors
from qwenfree.tools.repair import loads_lenient, nesting, unfence

log = logging.getLogger(__name__)
SCHEMA_BUDGET = 20_000  # schema nodes with every $ref expanded (each counted once per use)
STEP_BUDGET = 20_000  # validation steps for one answer (~4 µs each: < 0.1 s)
MAX_NESTING = 150  # value levels plus $ref hops in one validation path (Python recursion)
MAX_ANSWER_DEPTH = 64  # arrays/objects inside each other in an answer

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
    if nesting(value) > MAX_ANSWER_DEPTH:  # json.dumps and == below recurse
        return None, f"it is nested more than {MAX_ANSWER_DEPTH} levels deep"
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
    """The first way ``value`` breaks ``schema``, or None. At most ``STEP_BUDGET`` steps: an
    answer too large to check within them is accepted as it is (it is valid JSON)."""
    checker = _Checker(schema if root is None else root)
    try:
        return checker.validate(value, schema, path, 0)
    except _GiveUp as stop:
        log.info("JSON mode: the answer was not fully checked (%s)", stop)
        return None


def check_schema(schema: Any) -> None:
    """Refuse (400) a JSON-mode schema the checker could not finish: ``$ref``s that loop
    without descending into the value (``{"$ref": "#"}``, ``a -> b -> a``), and ``$ref``s
    that expand past ``SCHEMA_BUDGET`` nodes (a chain of ``$defs`` naming the next one twice
    doubles per level). Both walks are iterative and visit each schema node once."""
    if not isinstance(schema, Mapping):
        return
    if _loops(schema):
        raise errors.InvalidRequest(
            "The JSON schema refers to itself without nesting (a $ref loop)", param="schema"
        )
    if _expanded_size(schema) > SCHEMA_BUDGET:
        raise errors.InvalidRequest(
            f"The JSON schema expands to more than {SCHEMA_BUDGET} nodes through its $refs",
            param="schema",
        )


class _GiveUp(Exception):
    pass


class _Checker:
    """One validation: the root for ``$ref`` and the steps left."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.steps = STEP_BUDGET

    def validate(self, value: Any, schema: Any, path: str, depth: int) -> str | None:
        if not isinstance(schema, Mapping):
            return None
        self.steps -= 1
        if self.steps < 0:
            raise _GiveUp(f"more than {STEP_BUDGET} steps")
        if depth > MAX_NESTING:  # a $ref chain or loop (check_schema refuses loops) or a deep value
            raise _GiveUp(f"more than {MAX_NESTING} schema levels")
        if isinstance(schema.get("$ref"), str):
            return self.validate(value, _resolve(self.root, schema["$ref"]), path, depth + 1)
        for check_fn in (_type, _enum, _bounds, self._combinators, self._object, self._array):
            problem = check_fn(value, schema, path, depth)
            if problem:
                return problem
        return None

    def _combinators(self, value: Any, schema: Mapping[str, Any], path: str, depth: int):
        for sub in schema.get("allOf") or ():
            if problem := self.validate(value, sub, path, depth + 1):
                return problem
        options = schema.get("anyOf") or schema.get("oneOf")
        if options and all(self.validate(value, sub, path, depth + 1) for sub in options):
            return f"{path} matches none of the allowed shapes"
        return None

    def _object(self, value: Any, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
        if not isinstance(value, dict):
            return None
        props = schema.get("properties") or {}
        if not isinstance(props, Mapping):
            props = {}
        for key in schema.get("required") or ():
            if key not in value:
                return f"{path} lacks the required key {json.dumps(key)}"
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            sub = props.get(key, None if key in props else extra)
            if sub is False:
                return f"{path} has the unexpected key {json.dumps(key)}"
            if problem := self.validate(item, sub, f"{path}.{key}", depth + 1):
                return problem
        return None

    def _array(self, value: Any, schema: Mapping[str, Any], path: str, depth: int) -> str | None:
        if not isinstance(value, list) or not isinstance(schema.get("items"), Mapping):
            return None
        for index, item in enumerate(value):
            if problem := self.validate(item, schema["items"], f"{path}[{index}]", depth + 1):
                return problem
        return None


def _type(value: Any, schema: Mapping[str, Any], path: str, _: int) -> str | None:
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


def _enum(value: Any, schema: Mapping[str, Any], path: str, _: int) -> str | None:
    if "const" in schema and value != schema["const"]:
        return f"{path} should be {json.dumps(schema['const'])}"
    if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
        return f"{path} should be one of {json.dumps(schema['enum'], ensure_ascii=False)}"
    return None


def _bounds(value: Any, schema: Mapping[str, Any], path: str, _: int) -> str | None:
    for key, kind, ok, words in BOUNDS:
        limit = schema.get(key)
        if isinstance(limit, int | float) and isinstance(value, kind):
            if not isinstance(value, bool) and not ok(value, limit):
                return f"{path} is {words} {limit}"
    return None


def _resolve(root: Any, ref: str) -> Any:
    """Follow a local ``#/a/b`` reference; anything else is accepted unchecked."""
    if not ref.startswith("#"):
        return {}
    node = root
    for key in filter(None, ref[1:].split("/")):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _edges(node: Mapping[str, Any], root: Any) -> Iterator[tuple[Mapping[str, Any], bool]]:
    """The subschemas ``validate`` may apply, each with: does it descend into the value?"""
    ref = node.get("$ref")
    if isinstance(ref, str):  # validate follows the $ref and ignores its siblings
        yield _resolve(root, ref), False
        return
    for key in ("allOf", "anyOf", "oneOf"):
        subs = node.get(key)
        for sub in subs if isinstance(subs, list) else ():
            if isinstance(sub, Mapping):
                yield sub, False
    props = node.get("properties")
    for sub in props.values() if isinstance(props, Mapping) else ():
        if isinstance(sub, Mapping):
            yield sub, True
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), Mapping):
            yield node[key], True


def _loops(root: Mapping[str, Any]) -> bool:
    """Is there a cycle of subschemas that all apply to the same value (no descent)?"""
    state: dict[int, int] = {}  # id -> 1 on the path, 2 done
    for start in _reachable(root):
        if id(start) in state:
            continue
        state[id(start)] = 1
        path = [(start, _same_value(start, root))]
        while path:
            node, children = path[-1]
            for child in children:
                seen = state.get(id(child))
                if seen == 1:
                    return True
                if seen is None:
                    state[id(child)] = 1
                    path.append((child, _same_value(child, root)))
                    break
            else:
                state[id(node)] = 2
                path.pop()
    return False


def _same_value(node: Mapping[str, Any], root: Any) -> Iterator[Mapping[str, Any]]:
    return (child for child, descends in _edges(node, root) if not descends)


def _reachable(root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    seen: dict[int, Mapping[str, Any]] = {id(root): root}
    todo = [root]
    while todo:
        for child, _ in _edges(todo.pop(), root):
            if id(child) not in seen:
                seen[id(child)] = child
                todo.append(child)
    return list(seen.values())


def _expanded_size(root: Mapping[str, Any]) -> int:
    """The schema's node count with each $ref replaced by its target (a recursive reference,
    one that descends into the value, counts as one node), capped just above the budget."""
    size: dict[int, int] = {}
    on_path = {id(root)}
    path = [(root, _edges(root, root))]
    while path:
        node, children = path[-1]
        for child, _ in children:
            if id(child) not in size and id(child) not in on_path:
                on_path.add(id(child))
                path.append((child, _edges(child, root)))
                break
        else:
            path.pop()
            on_path.discard(id(node))
            total = 1 + sum(size.get(id(child), 1) for child, _ in _edges(node, root))
            size[id(node)] = min(total, SCHEMA_BUDGET + 1)
    return size[id(root)]
