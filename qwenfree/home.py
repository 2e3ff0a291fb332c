"""The homepage, its live status, and the API reference (``/openapi.json`` and ``/docs``).

Pages are rendered server-side from ``templates/`` with Jinja's autoescaping; styles and the one
small script live in ``static/``. Nothing is fetched from anywhere else, so the pages render
offline and a strict Content-Security-Policy holds.

Seam for the admin page (accounts issue): it will be a separate ``admin`` blueprint with its own
authentication, extending ``templates/base.html`` and calling :func:`secure` from its own
``after_request``; the header's navigation (``NAV``) gains its entry then. Its routes appear in
``/openapi.json`` automatically (see :mod:`qwenfree.openapi`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

import qwenfree
from qwenfree import openapi, web

bp = Blueprint("home", __name__)

# (endpoint, English label, Chinese label) for the header of every page.
NAV = (
    ("home.index", "Home", "首页"),
    ("home.docs", "API reference", "接口参考"),
    ("home.openapi_json", "OpenAPI", "OpenAPI"),
    ("admin.page", "Admin", "管理"),
)
SECURITY_HEADERS = {
    "Content-Security-Policy": "; ".join(
        (
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# A host name, IPv4 or bracketed IPv6 address, with an optional port: nothing else reaches the
# page, so a forged Host / X-Forwarded-Host cannot smuggle markup into it (Jinja escapes too).
HOST = re.compile(
    r"(?:[A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}(?::\d{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::\d{1,5})?"
)
SCHEMES = ("http", "https")
CODE_SPAN = re.compile(r"``([^`]+)``|`([^`]+)`")  # in docstrings: ``x`` (reST) or `x`


@bp.route("/", methods=["GET", "HEAD"])
def index() -> Response:
    """This page: what qwenfree is, how to get a token and set up clients, live status.

    Never calls the upstream: the live status is fetched by the page from ``/status``.
    """
    st = web.state()
    return page(
        "home.html",
        base=base_url(),
        default_model=st.settings.default_model or "default",
        tongyi=st.settings.tongyi_tickets,
    )


@bp.get("/status")
def status() -> Response:
    """Version, whether the upstream model list can be fetched, and the models offered.

    JSON for programs; a browser (which prefers ``text/html``) gets the same facts as a page.
    """
    models, authoritative = web.state().service.catalog.models()
    body = {
        "service": "qwenfree",
        "version": qwenfree.__version__,
        "upstream": {"reachable": authoritative},
        "default_model": web.state().service.catalog.default_model(),
        "models": [
            {"id": m.id, "name": m.name, "variants": m.variants(), "vision": m.vision}
            for m in models
        ],
    }
    if wants_html():
        response = page("status.html", status=body, base=base_url())
    else:
        response = web.json_response(body)
    response.headers["Vary"] = ", ".join(filter(None, (response.headers.get("Vary"), "Accept")))
    return response


def wants_html() -> bool:
    """Does the caller prefer a page to JSON (a browser's Accept), ``*/*`` meaning JSON?"""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """This API as an OpenAPI 3.1 document."""
    return web.json_response(openapi.build(current_app, base_url(), qwenfree.__version__))


@bp.get("/docs")
def docs() -> Response:
    """The API reference, rendered from the OpenAPI document."""
    spec = openapi.build(current_app, base_url(), qwenfree.__version__)
    return page(
        "docs.html",
        base=base_url(),
        groups=reference_groups(spec),
        components=reference_components(spec),
    )


@bp.after_app_request
def _secure_own_responses(response: Response) -> Response:
    if request.blueprint == "home" or request.endpoint == "static":
        secure(response)
    return response


def secure(response: Response) -> Response:
    """Add the pages' security headers (strict CSP: this origin only, no framing)."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def page(template: str, **context: Any) -> Response:
    """Render an HTML page; it depends on the address it was reached at, so caches must vary."""
    html = render_template(
        template, nav=NAV, version=qwenfree.__version__, code_pieces=code_pieces, **context
    )
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Vary"] = "Host, X-Forwarded-Host, X-Forwarded-Proto"
    return response


def base_url() -> str:
    """This server's address as the caller reached it, also through a reverse proxy."""
    proto = _first(request.headers.get("X-Forwarded-Proto", "")).lower()
    if proto not in SCHEMES:
        proto = request.scheme if request.scheme in SCHEMES else "http"
    host = _first(request.headers.get("X-Forwarded-Host", "")) or request.host
    if not HOST.fullmatch(host):
        host = request.host if HOST.fullmatch(request.host) else _server_address()
    return f"{proto}://{host}{request.script_root}"


def _first(value: str) -> str:
    """The client-side entry of a proxy header that may list several hops."""
    return value.split(",")[0].strip()


def _server_address() -> str:
    name = request.environ.get("SERVER_NAME", "localhost")
    port = request.environ.get("SERVER_PORT", "")
    address = f"{name}:{port}" if port else str(name)
    return address if HOST.fullmatch(address) else "localhost"


# --- the reference page: plain rows read back from the OpenAPI document ---------------------


def reference_groups(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Operations grouped by tag, each reduced to what the reference page shows."""
    described = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            groups.setdefault(op["tags"][0], []).append(_reference_op(method, path, op))
    order = list(described)
    names = sorted(groups, key=lambda t: (order.index(t) if t in order else 99, t))
    return [{"tag": t, "description": described.get(t, ""), "ops": groups[t]} for t in names]


def _reference_op(method: str, path: str, op: dict[str, Any]) -> dict[str, Any]:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    error = op["responses"]["default"]["content"]["application/json"]["schema"]
    return {
        "id": op["operationId"],
        "method": method.upper(),
        "path": path,
        "summary": op.get("summary", ""),
        "description": op.get("description", ""),
        "params": op.get("parameters", []),
        "body": type_label(body["schema"]) if body else None,
        "media": list(op["responses"]["200"].get("content", {})),
        "auth": [name for option in op.get("security", []) for name in option],
        "error": type_label(error),
    }


def reference_components(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every component schema as a table of its properties."""
    out = []
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        required = set(schema.get("required", []))
        rows = [
            {"name": prop, "type": type_label(sub), "required": prop in required, **_notes(sub)}
            for prop, sub in schema.get("properties", {}).items()
        ]
        out.append({"name": name, "rows": rows})
    return out


def type_label(schema: dict[str, Any]) -> list[tuple[str, str | None]]:
    """A schema as text pieces, each with the component it links to (or None)."""
    if "$ref" in schema:
        name = schema["$ref"].rpartition("/")[2]
        return [(name, name)]
    if "anyOf" in schema:
        pieces: list[tuple[str, str | None]] = []
        for i, option in enumerate(schema["anyOf"]):
            pieces += ([(" | ", None)] if i else []) + type_label(option)
        return pieces
    if "const" in schema:
        return [(json.dumps(schema["const"]), None)]
    kind = schema.get("type")
    if kind == "array" or (isinstance(kind, list) and "array" in kind):
        nullable = [(" | null", None)] if isinstance(kind, list) and "null" in kind else []
        return [("array of ", None), *type_label(schema.get("items", {})), *nullable]
    if isinstance(kind, list):
        return [(" | ".join(kind), None)]
    return [(kind or schema.get("description") or "any", None)]


def code_pieces(text: str) -> list[tuple[str, bool]]:
    """Split prose into (text, is_code) pieces, so the template can show code spans as code
    while Jinja still escapes every piece."""
    pieces: list[tuple[str, bool]] = []
    last = 0
    for m in CODE_SPAN.finditer(text):
        pieces += [(text[last : m.start()], False), (m[1] or m[2], True)]
        last = m.end()
    return [p for p in [*pieces, (text[last:], False)] if p[0]]


def _notes(schema: dict[str, Any]) -> dict[str, str]:
    limits = ("minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems")
    notes = [f"{key} {schema[key]}" for key in limits if key in schema]
    if "enum" in schema:
        notes.append("one of " + ", ".join(str(v) for v in schema["enum"] if v is not None))
    default = json.dumps(schema["default"]) if "default" in schema else ""
    return {"default": default, "notes": "; ".join(notes)}
