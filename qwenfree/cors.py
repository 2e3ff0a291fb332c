"""Cross-origin access to the API for browser front-ends (flask-cors). Off unless
``Settings.cors_origins`` names origins: without CORS headers a browser page on another origin
cannot read our answers, which is the safe default for a gateway that holds callers' tokens.

Callers authenticate with headers, never cookies, so credentials are not allowed and ``*`` may
be used as "any origin". Preflights are answered before any key check: browsers send them
without the ``Authorization`` header.
"""

from __future__ import annotations

import re

from flask import Flask, Response, request
from flask_cors import CORS

API_PATHS = r"/v1(beta)?/.*"
ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "x-api-key",
    "anthropic-version",
    "anthropic-beta",
    "x-goog-api-key",
    "x-goog-api-client",
]
# Readable by the page: our request id (both spellings the SDKs read) and the retry hint.
EXPOSE_HEADERS = ["x-request-id", "request-id", "retry-after"]
METHODS = ["GET", "POST", "OPTIONS"]
PREFLIGHT_CACHE_SECONDS = 600


def origins(setting: str) -> list[str | re.Pattern[str]]:
    """The allow-list: ``*`` stays the wildcard; any other origin matches exactly (flask-cors
    would read a plain string with regex characters as a pattern)."""
    listed = [o.strip().rstrip("/") for o in setting.split(",") if o.strip()]
    return ["*" if o == "*" else re.compile(re.escape(o) + r"\Z", re.IGNORECASE) for o in listed]


def install(app: Flask, setting: str) -> None:
    """Answer cross-origin requests to the API from the origins ``setting`` lists, if any."""
    allowed = origins(setting)
    if not allowed:
        return

    @app.before_request
    def _preflight() -> Response | None:
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            return app.make_default_options_response()
        return None

    CORS(
        app,
        resources={API_PATHS: {"origins": allowed}},
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        methods=METHODS,
        supports_credentials=False,
        send_wildcard=True,
        max_age=PREFLIGHT_CACHE_SECONDS,
    )
