"""The OpenAPI 3.1 document, built from the app's own URL map and marshmallow schemas.

Every rule in ``app.url_map`` becomes an operation, so a new route is documented the moment it
is registered. What a view accepts is found, in order:

1. from :func:`describe`, a decorator that puts an :class:`OpenApiDoc` on the view function::

       @bp.post("/messages")
       @openapi.describe(body=MessagesSchema, streams=True, summary="Create a message")
       def messages() -> Response: ...

2. otherwise from the view's own code: a view that calls
   ``web.load_or_raise(FooSchema, ...)`` names exactly one marshmallow schema, and one that
   returns ``web.stream_response(...)`` can stream; both are read from its code object, so the
   plain thin-view style needs no decoration;
3. otherwise a POST body is described as "a JSON object" until its dialect adds a schema.

Nothing here imports Flask: the caller passes the app in.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from qwenfree import dialects, examples

OPENAPI_VERSION = "3.1.0"
ATTRIBUTE = "openapi_doc"  # where describe() leaves its facts on a view function
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})  # answered for every GET route; not listed
SKIPPED_ENDPOINTS = frozenset({"static"})
RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
CONVERTER_TYPES = {"int": "integer", "float": "number"}

DESCRIPTION = (
    "A self-hosted gateway from the free Qwen web chat (chat.qwen.ai) to OpenAI-, Anthropic- "
    "and Gemini-compatible APIs. Send your chat.qwen.ai token as the API key. For personal "
    "use; the official paid Qwen API is the stable route."
)


TAGS = {
    "openai": "OpenAI-compatible API (openai SDKs, LobeChat, Dify, ...)",
    "anthropic": "Anthropic Messages API (Claude Code, anthropic SDKs)",
    "gemini": "Gemini API (gemini-cli, google-genai)",
    "images": "Pictures and videos, OpenAI-shaped (drawn by chat.qwen.ai)",
    "health": "Operations: liveness, readiness, token check",
    "metrics": "Prometheus metrics",
    "home": "This homepage, the status page and the API reference",
    "admin": "Server-held accounts and caller keys (needs the admin key)",
}
TAGS_ZH = {
    "openai": "OpenAI 兼容接口（`openai` SDK、LobeChat、Dify 等）",
    "anthropic": "Anthropic 消息接口（Claude Code、`anthropic` SDK）",
    "gemini": "Gemini 接口（gemini-cli、`google-genai`）",
    "images": "图片和视频，OpenAI 格式（由 chat.qwen.ai 生成）",
    "health": "运维：存活、就绪、凭据检测",
    "metrics": "Prometheus 指标",
    "home": "首页、状态页和接口参考",
    "admin": "服务器持有的账号和调用方密钥（需要管理密钥）",
}
# Response media types of routes that do not answer JSON (a page, plain text).
PRODUCES = {
    "home.index": ("text/html",),
    "home.docs": ("text/html",),
    "admin.page": ("text/html",),
    "home.status": ("application/json", "text/html"),
    "metrics.metrics": ("text/plain",),
    "health.ping": ("text/plain",),
}
REDIRECTS = frozenset({"images.video_content"})  # answer 302 to a URL elsewhere
# Dialect routes always read a JSON body when they are POSTed, even through a helper.
BODY_TAGS = frozenset({"openai", "anthropic", "gemini", "images"})
BODY_READERS = frozenset({"json_body", "load_or_raise", "get_json"})

# How callers send their chat.qwen.ai token, per dialect (client-contracts.md §0).
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "Your chat.qwen.ai credential(s), or a caller key when the server sets "
        "QWENFREE_API_KEYS",
    },
    "admin-key": {
        "type": "http",
        "scheme": "bearer",
        "description": "The admin key (QWENFREE_ADMIN_KEY); x-api-key works too",
    },
    "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"},
    "x-goog-api-key": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
    "key": {"type": "apiKey", "in": "query", "name": "key"},
}
SECURITY = {
    "openai": [{"bearer": []}],
    "images": [{"bearer": []}],
    "anthropic": [{"bearer": []}, {"x-api-key": []}],
    "gemini": [{"x-goog-api-key": []}, {"bearer": []}, {"key": []}],
    "admin": [{"admin-key": []}],
}
# Per endpoint, before SECURITY: public pages, and routes that need a key only in key mode.
ENDPOINT_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "admin.page": [],
    "health.token_check": [{}, {"bearer": []}],
    "health.hello": [{}, {"bearer": []}],
}

# Error envelopes, per dialect (client-contracts.md §0); routes outside a dialect blueprint
# answer errors in the dialect their URL prefix selects.
_TEXT = {"type": "string"}
ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "openai": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"message": _TEXT, "type": _TEXT, "param": {}, "code": {}},
            }
        },
    },
    "anthropic": {
        "type": "object",
        "properties": {
            "type": {"const": "error"},
            "error": {"type": "object", "properties": {"type": _TEXT, "message": _TEXT}},
            "request_id": _TEXT,
        },
    },
    "gemini": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "integer"}, "message": _TEXT, "status": _TEXT},
            }
        },
    },
}

View = TypeVar("View", bound=Callable[..., Any])
SchemaRef = type[Schema] | Schema


@dataclass(frozen=True)
class OpenApiDoc:
    """What a view declares about itself; every field is optional."""

    body: SchemaRef | None = None
    summary: str | None = None
    streams: bool | None = None  # None: infer from the view's code
    produces: tuple[str, ...] = ()  # response media types; () means JSON
    query: Mapping[str, str] = field(default_factory=dict)  # query parameter -> description


def describe(
    *,
    body: SchemaRef | None = None,
    summary: str | None = None,
    streams: bool | None = None,
    produces: tuple[str, ...] = (),
    query: Mapping[str, str] | None = None,
) -> Callable[[View], View]:
    """Attach OpenAPI facts to a view function (order relative to ``@bp.route`` is free)."""
    doc = OpenApiDoc(body, summary, streams, produces, dict(query or {}))

    def mark(view: View) -> View:
        setattr(view, ATTRIBUTE, doc)
        return view

    return mark


@dataclass(frozen=True)
class Operation:
    """One (rule, method) pair of the app, as the document and the homepage list it."""

    id: str  # the operationId, also the anchor on /docs
    method: str
    path: str  # OpenAPI templating: /v1/models/{model_id}
    endpoint: str
    tag: str
    summary: str
    doc: OpenApiDoc
    params: tuple[tuple[str, str], ...]  # (name, JSON type) of the path arguments


def operations(app: Any) -> list[Operation]:
    """Every documented (rule, method) of ``app``, ordered by path then method."""
    found: list[Operation] = []
    ids: set[str] = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        doc = getattr(view, ATTRIBUTE, None) or OpenApiDoc()
        path, params = openapi_path(rule.rule)
        tag = rule.endpoint.partition(".")[0] if "." in rule.endpoint else "app"
        summary = (
            examples.SUMMARIES.get(rule.endpoint, ("",))[0].rstrip(".")
            or doc.summary
            or _summary(view, rule.endpoint)
        )
        for method in sorted(set(rule.methods or ()) - IMPLICIT_METHODS):
            op_id = _unique(f"{rule.endpoint}.{method.lower()}", ids)
            found.append(Operation(op_id, method, path, rule.endpoint, tag, summary, doc, params))
    return sorted(found, key=lambda op: (op.path, op.method))


def _unique(op_id: str, taken: set[str]) -> str:
    """One view may serve several rules (``/v1beta/...`` and ``/v1/...``): number the rest."""
    candidate, n = op_id, 1
    while candidate in taken:
        n += 1
        candidate = f"{op_id}-{n}"
    taken.add(candidate)
    return candidate


def openapi_path(rule: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``/v1/models/<path:model_id>`` -> (``/v1/models/{model_id}``, ((model_id, string),))."""
    params = tuple(
        (m["name"], CONVERTER_TYPES.get(m["converter"] or "", "string"))
        for m in RULE_ARGUMENT.finditer(rule)
    )
    return RULE_ARGUMENT.sub(lambda m: "{" + m["name"] + "}", rule), params


def build(app: Any, server_url: str, version: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for ``app`` as served from ``server_url``."""
    spec = APISpec(
        title="qwenfree",
        version=version,
        openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)],
        info={"description": DESCRIPTION},
        servers=[{"url": server_url}],
        tags=[
            {"name": name, "description": text, "x-description-zh": TAGS_ZH[name]}
            for name, text in TAGS.items()
        ],
    )
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for name, schema in ERROR_SCHEMAS.items():
        spec.components.schema(f"{name}.Error", schema)
    by_path: dict[str, dict[str, Any]] = {}
    for op in operations(app):
        view = app.view_functions[op.endpoint]
        by_path.setdefault(op.path, {})[op.method.lower()] = _operation(op, view)
    for path, ops in by_path.items():
        spec.path(path=path, operations=ops)
    return spec.to_dict()


def schema_name(schema: SchemaRef) -> str:
    """Component name ``<dialect>.<Class>`` so same-named schemas of two dialects never clash."""
    cls = schema if isinstance(schema, type) else type(schema)
    parts = cls.__module__.split(".")
    owner = parts[2] if parts[:2] == ["qwenfree", "dialects"] and len(parts) > 2 else parts[-1]
    return f"{owner}.{cls.__name__.removesuffix('Schema') or cls.__name__}"


def _operation(op: Operation, view: Callable[..., Any]) -> dict[str, Any]:
    dialect = dialects.for_request(op.path, op.tag, {})
    ok = (
        {"302": {"description": "A redirect to the content"}}
        if op.endpoint in REDIRECTS
        else {"200": {"description": "OK", "content": _media(op, view)}}
    )
    out: dict[str, Any] = {
        "operationId": op.id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(op),
        "responses": ok
        | {
            "default": {
                "description": f"Error, in the {dialect} dialect's envelope",
                "content": {"application/json": {"schema": _ref(f"{dialect}.Error")}},
            },
        },
    }
    if op.endpoint in SUMMARIES_ZH:
        out["x-summary-zh"] = SUMMARIES_ZH[op.endpoint]
    if op.endpoint in examples.EXAMPLES:
        out["x-examples"] = examples.EXAMPLES[op.endpoint]
    security = ENDPOINT_SECURITY.get(op.endpoint, SECURITY.get(op.tag))
    if security:
        out["security"] = security
    if op.method in ("POST", "PUT", "PATCH") and _takes_body(op, view):
        out["requestBody"] = _request_body(op, view)
    if description := _description(view):
        out["description"] = description
    return out


SUMMARIES_ZH = {endpoint: zh for endpoint, (_, zh) in examples.SUMMARIES.items()}


def _takes_body(op: Operation, view: Callable[..., Any]) -> bool:
    """Does this route read a request body? Declared, a dialect's, or read in its code."""
    if op.doc.body is not None or op.tag in BODY_TAGS:
        return True
    return bool(BODY_READERS & set(_code_names(view)))


def _parameters(op: Operation) -> list[dict[str, Any]]:
    path = [
        {"name": name, "in": "path", "required": True, "schema": {"type": kind}}
        for name, kind in op.params
    ]
    query = [
        {"name": name, "in": "query", "description": text, "schema": {"type": "string"}}
        for name, text in op.doc.query.items()
    ]
    return path + query


def _request_body(op: Operation, view: Callable[..., Any]) -> dict[str, Any]:
    schema = op.doc.body or _named_schema(view)
    if schema is None:
        generic = {"type": "object", "description": "A JSON object (schema not documented yet)"}
        return {"required": True, "content": {"application/json": {"schema": generic}}}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _media(op: Operation, view: Callable[..., Any]) -> dict[str, Any]:
    types = list(op.doc.produces or PRODUCES.get(op.endpoint, ("application/json",)))
    streams = op.doc.streams
    if streams is None:
        streams = "stream_response" in _code_names(view)
    if streams and "text/event-stream" not in types:
        types.append("text/event-stream")
    return {media: {} for media in types}


def _named_schema(view: Callable[..., Any]) -> type[Schema] | None:
    """The one marshmallow schema class the view's code refers to, if exactly one."""
    found = {obj for obj in _referenced(view) if isinstance(obj, type) and issubclass(obj, Schema)}
    return found.pop() if len(found) == 1 else None


def _referenced(view: Callable[..., Any]) -> Iterator[object]:
    """Globals the view names, and attributes it reads from global modules (``schemas.X``)."""
    scope = getattr(inspect.unwrap(view), "__globals__", {})
    names = _code_names(view)
    modules = [scope[n] for n in names if isinstance(scope.get(n), ModuleType)]
    for name in names:
        if name in scope:
            yield scope[name]
        for module in modules:
            if hasattr(module, name):
                yield getattr(module, name)


def _code_names(view: Callable[..., Any]) -> tuple[str, ...]:
    code = getattr(inspect.unwrap(view), "__code__", None)
    return tuple(code.co_names) if code is not None else ()


def _summary(view: Callable[..., Any], endpoint: str) -> str:
    """The docstring's first paragraph, whole (a line break never ends a sentence)."""
    first = " ".join((view.__doc__ or "").strip().split("\n\n")[0].split())
    if first:
        return first.rstrip(".")
    return endpoint.rpartition(".")[2].replace("_", " ").capitalize()


def _description(view: Callable[..., Any]) -> str:
    """The docstring after its first paragraph (the summary), if any."""
    doc = (view.__doc__ or "").strip()
    return doc.partition("\n\n")[2].strip()


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}
