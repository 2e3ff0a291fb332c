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


@bp.route("/api/hello", methods=["GET", "HEAD"])
def hello() -> Response:
    """Claude Code's reachability probe (sent unless non-essential traffic is disabled)."""
    return web.json_response({"status": "ok"})


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive; no upstream call (used by the container health check)."""
    return web.json_response({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready to serve: configuration loaded and, with server-held accounts, at least one that
    can answer (ready, busy or merely failing); 503 otherwise. Counts only, no secrets."""
    st = web.state()
    body: dict[str, object] = {
        "status": "ready",
        "upstream": st.settings.upstream_url,
        "tokens": "from callers",
        "chats_pending_cleanup": st.janitor.pending(),
    }
    pool = st.ops.pool if st.ops is not None else None
    if pool is None:
        return web.json_response(body)
    counts = pool.counts()
    usable = counts["ready"] + counts["busy"] + counts["failing"]
    body |= {"tokens": "server accounts", "accounts": counts}
    if usable:
        return web.json_response(body)
    return web.json_response(body | {"status": "unavailable"}, 503)


@bp.post("/token/check")
def token_check() -> Response:
    """Answer ``{"live": bool}``: does chat.qwen.ai accept this token (or Tongyi this ticket)?"""
    body = web.json_body()
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise errors.InvalidRequest('Send {"token": "<chat.qwen.ai token>"}', param="token")
    live = web.state().service.check_token(token.strip())
    return Response(dumps({"live": live}), mimetype="application/json")
