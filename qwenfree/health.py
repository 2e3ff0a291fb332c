"""Small operational routes: liveness, readiness, ping and the token check (the homepage is in
home.py)."""

from __future__ import annotations

import time

from flask import Blueprint, Response

from qwenfree import errors, web
from qwenfree.upstream.accounts import jwt_exp
from qwenfree.upstream.credentials import parse
from qwenfree.upstream.passthrough import LASTING

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
    """Does the site accept this credential? Says which form it saw (access token, refresh
    token, browser cookies, Tongyi ticket), when the access token expires, and what to do."""
    body = web.json_body()
    token = body.get("token") if isinstance(body, dict) else None
    if isinstance(token, str) and len(token) > 16384:
        raise errors.InvalidRequest("The credential is longer than 16 KiB", param="token")
    if not isinstance(token, str) or not token.strip():
        raise errors.InvalidRequest(
            'Send {"token": "<refresh_token=..., a browser Cookie header, or a token>"}',
            param="token",
        )
    st = web.state()
    cred = parse(token.strip())
    site = st.service.backends.for_credential(cred.raw)
    kind = f"{site.name} ticket" if site is not st.service.backends.default else cred.kind
    answer: dict[str, object] = {"live": False, "kind": kind, "expires_at": None}
    try:
        access = st.ops.keeper.access(cred.key, cred) if cred.refresh else cred.raw
    except errors.CredentialRevoked as err:
        return web.json_response(answer | {"advice": err.message})
    answer["live"] = live = st.service.check_token(access)
    if (exp := jwt_exp(access)) is not None:
        answer["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp))
    if not live:
        answer["advice"] = "The site refused it. " + LASTING
    elif kind == "access token" and exp is not None:
        answer["advice"] = (
            "It works, but an access token copied from the browser expires (see expires_at). "
            + LASTING
        )
    return web.json_response(answer)
