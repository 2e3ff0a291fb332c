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

import re
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request

from qwenfree import openapi, reference, web
from qwenfree.version import __version__

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
        keyed=st.ops.keys.enabled,
    )


@bp.get("/status")
def status() -> Response:
    """Version, whether the upstream model list can be fetched, and the models offered.

    JSON for programs; a browser (which prefers ``text/html``) gets the same facts as a page.
    """
    models, authoritative = web.state().service.catalog.models()
    body = {
        "service": "qwenfree",
        "version": __version__,
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
    return web.json_response(openapi.build(current_app, base_url(), __version__))


@bp.get("/docs")
def docs() -> Response:
    """The API reference, rendered from the OpenAPI document."""
    spec = openapi.build(current_app, base_url(), __version__)
    return page(
        "docs.html",
        base=base_url(),
        groups=reference.groups(spec, base_url()),
        components=reference.components(spec),
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
        template, nav=NAV, version=__version__, code_pieces=code_pieces, **context
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


def code_pieces(text: str) -> list[tuple[str, bool]]:
    """Split prose into (text, is_code) pieces, so the template can show code spans as code
    while Jinja still escapes every piece."""
    pieces: list[tuple[str, bool]] = []
    last = 0
    for m in CODE_SPAN.finditer(text):
        pieces += [(text[last : m.start()], False), (m[1] or m[2], True)]
        last = m.end()
    return [p for p in [*pieces, (text[last:], False)] if p[0]]
