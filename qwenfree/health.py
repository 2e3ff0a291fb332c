"""Small operational routes: liveness, readiness, ping and the token check (the homepage is in
home.py)."""

from __future__ import annotations

from flask import Blueprint, Response

from qwenfree import errors, web
from qwenfree.sse import dumps

bp = Blueprint("health", __name__)


@bp.get("/ping")
def ping() -> Response:
    return Response("pong", mimetype="text/plain")


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive; no upstream call (used by the container health check)."""
    return web.json_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Configuration loaded; callers bring their own tokens, so nothing else can be missing."""
    st = web.state()
    return web.json_response(
        {
            "status": "ready",
            "upstream": st.settings.upstream_url,
            "tokens": "from callers",
            "chats_pending_cleanup": st.janitor.pending(),
        }
    )


@bp.post("/token/check")
def token_check() -> Response:
    """Answer ``{"live": bool}``: does chat.qwen.ai accept this token?"""
    body = web.json_body()
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise errors.InvalidRequest('Send {"token": "<chat.qwen.ai token>"}', param="token")
    client = web.state().service.client
    try:
        me = client.json("GET", "/api/v1/auths/", token.strip())
    except errors.UpstreamTokenRejected:
        return web.json_response({"live": False})
    live = isinstance(me, dict) and me.get("role") in ("user", "admin")
    return Response(dumps({"live": live}), mimetype="application/json")
