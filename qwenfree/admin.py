"""The admin API and page (``/admin``), for server-held accounts and caller keys.

Every ``/admin/api/*`` route needs the admin key (``QWENFREE_ADMIN_KEY``, sent as
``Authorization: Bearer`` or ``x-api-key``); caller keys are refused. Without an admin key the
routes answer 404. The page itself is a static shell: it asks for the key and uses only this API
(``static/admin.js``), so it holds no secret and renders offline under the strict CSP.

Secrets never leave: accounts are shown by alias, a masked email and the token's last four
characters; keys by fingerprint and last four characters.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, request

from qwenfree import errors, home, web
from qwenfree.auth import require_admin
from qwenfree.ops import Ops
from qwenfree.store import FOREVER
from qwenfree.upstream.accounts import AccountSpec, mask_email
from qwenfree.upstream.cookies import parse_header
from qwenfree.upstream.pool import AccountState
from qwenfree.upstream.roster import Roster

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _ops() -> Ops:
    ops: Ops = web.state().ops
    return ops


def _roster() -> Roster:
    pool = _ops().pool
    if pool is None:  # unreachable: an admin key requires caller keys, which bring the pool
        raise errors.NotFound("No account pool: set QWENFREE_API_KEYS")
    return Roster(pool)


@bp.before_request
def _admin_only() -> None:
    if request.endpoint == "admin.page":
        return
    keys = _ops().keys
    if not keys.admin_enabled:
        raise errors.NotFound("The admin API is off: set QWENFREE_ADMIN_KEY to turn it on")
    require_admin(keys)


@bp.after_request
def _secure(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return home.secure(response)


@bp.get("")
def page() -> Response:
    """The admin page: accounts, their state and usage; usage per caller key."""
    return home.page("admin.html", enabled=_ops().keys.admin_enabled)


@bp.get("/api/accounts")
def list_accounts() -> Response:
    """Every account: state, reason, cooldowns, usage (masked, no secrets)."""
    pool = _roster().pool
    now = pool.clock()
    states = pool.states(now=now)
    return web.json_response(
        {
            "accounts": [account_json(s, now) for s in states],
            "counts": pool.counts(),
            "concurrency": pool.settings.account_concurrency,
        }
    )


@bp.post("/api/accounts")
def add_account() -> Response:
    """Add an account: ``{"token": "..."}`` or ``{"email": "...", "password": "..."}``."""
    spec = _spec(web.json_body())
    state = _roster().add(spec)
    return web.json_response({"account": account_json(state, time.time())}, 201)


@bp.delete("/api/accounts/<account_id>")
def remove_account(account_id: str) -> Response:
    """Remove an account (accounts from QWENFREE_ACCOUNTS return at the next start)."""
    _roster().remove(account_id)
    return web.json_response({"removed": account_id})


@bp.post("/api/accounts/<account_id>/refresh")
def refresh_account(account_id: str) -> Response:
    """Sign the account in again now (accounts with a password)."""
    state = _roster().refresh(account_id)
    return web.json_response({"account": account_json(state, time.time())})


@bp.post("/api/accounts/<account_id>/check")
def check_account(account_id: str) -> Response:
    """Ask chat.qwen.ai whether the account's token works; revive or bench it accordingly."""
    live, state = _roster().check(account_id)
    return web.json_response({"live": live, "account": account_json(state, time.time())})


@bp.put("/api/accounts/<account_id>/cookie")
def set_account_cookie(account_id: str) -> Response:
    """Give the account a browser's Cookie header (e.g. after passing a captcha there)."""
    body = web.json_body()
    cookie = body.get("cookie") if isinstance(body, dict) else None
    if not isinstance(cookie, str) or not cookie.strip() or len(cookie) > 16384:
        raise errors.InvalidRequest(
            'Send {"cookie": "<the Cookie request header>"}', param="cookie"
        )
    state = _roster().set_cookie(account_id, cookie.strip())
    return web.json_response({"account": account_json(state, time.time())})


@bp.get("/api/keys")
def list_keys() -> Response:
    """Usage per caller key: requests, failures, tokens, last use."""
    ops = _ops()
    found = ops.store.usage("key:") if ops.store is not None else {}
    keys = []
    for key_id, tail in ops.keys.listed():
        used = found.get(key_id, {})
        keys.append(
            {
                "id": key_id,
                "key": "…" + tail if tail else "…",
                **{n: int(float(used.get(n, 0) or 0)) for n in COUNTERS},
                "last_used": _iso(used.get("last_used")),
            }
        )
    return web.json_response({"keys": keys, "rate_limit": ops.settings.rate_limit or None})


@bp.post("/api/doctor")
def run_doctor() -> Response:
    """``make doctor`` for a configured account: the first usable one, or ``{"account": "<alias
    or id>"}`` (``"media": true`` also draws a picture). The report is redacted."""
    from qwenfree import doctor  # imports both backends; only this route needs them

    raw = request.get_data(cache=True)
    body = web.json_body() if raw.strip() else {}
    if not isinstance(body, dict):
        raise errors.InvalidRequest("Send a JSON object, or nothing")
    wanted = body.get("account")
    pool = _roster().pool
    states = pool.states()
    if wanted:
        states = [s for s in states if wanted in (s.record.id, s.alias)]
        if not states:
            raise errors.NotFound(f"No account '{wanted}'")
    states = [s for s in states if s.state != "dead"] or states
    if not states:
        raise errors.NotFound("No account to check: add one first")
    record = states[0].record
    spec = AccountSpec(email=record.email, password=record.password, token=record.token)
    report = doctor.run(pool.settings, spec, media=body.get("media") is True, store=pool.store)
    return web.json_response(report)


COUNTERS = ("requests", "failed", "input_tokens", "output_tokens")


@bp.get("/api/series")
def series() -> Response:
    """Per-minute counters of the last hours, for the dashboard's charts.

    ``?minutes=`` (default 180, at most a day): requests by dialect, errors by kind, time to
    first byte (buckets and p50/p95) and account states per minute, oldest first; ``today``
    adds up the requests, errors and tokens since midnight UTC.
    """
    ops = _ops()
    ring = ops.series
    if ring is None:  # unreachable: an admin key requires caller keys, which bring the store
        raise errors.NotFound("No per-minute counters: set QWENFREE_API_KEYS")
    try:
        minutes = int(request.args.get("minutes", "180"))
    except ValueError:
        raise errors.InvalidRequest("minutes: a whole number", param="minutes") from None
    ring.sample_states()
    body = ring.read(minutes)
    since_midnight = int(ring.clock() % 86400 // 60) + 1
    day = ring.read(since_midnight)["series"]
    total = lambda prefix: int(sum(sum(v) for k, v in day.items() if k.startswith(prefix)))  # noqa: E731
    body["today"] = {
        "requests": total("req:"),
        "errors": total("err:"),
        "input_tokens": total("tok:in"),
        "output_tokens": total("tok:out"),
    }
    return web.json_response(body)


def _spec(body: Any) -> AccountSpec:
    if not isinstance(body, dict):
        raise errors.InvalidRequest("Send a JSON object")
    token, email, password = (body.get(k) for k in ("token", "email", "password"))
    cookie = body.get("cookie")  # a browser's whole Cookie header (refresh_token, x5sec, ...)
    if isinstance(cookie, str) and cookie.strip() and not (token or email):
        if "refresh_token=" not in cookie:
            raise errors.InvalidRequest(
                "The Cookie header holds no refresh_token: copy it from a signed-in "
                "chat.qwen.ai page",
                param="cookie",
            )
        return AccountSpec(token=cookie.strip())
    if isinstance(token, str) and token.strip() and not email:
        return AccountSpec(token=token.strip())
    if isinstance(email, str) and "@" in email and isinstance(password, str) and password:
        return AccountSpec(email=email.strip(), password=password)
    raise errors.InvalidRequest(
        'Send {"token": "<refresh_token=... or an access token>"}, {"cookie": "<a browser '
        'Cookie header>"} or {"email": "...", "password": "..."}'
    )


def account_json(s: AccountState, now: float) -> dict[str, Any]:
    """One account for the admin API: no password, no token beyond its last four characters."""
    r, usage = s.record, s.usage
    return {
        "id": r.id,
        "alias": s.alias,
        "email": mask_email(r.email) if r.email else None,
        "token": "…" + r.token[-4:] if r.token and len(r.token) > 8 else None,
        "signs_in": bool(r.email and r.password),
        "source": r.source,
        "state": s.state,
        "reason": s.reason or None,
        "until": _iso(s.until),
        "retry_in": round(s.until - now) if s.until and s.until < FOREVER else None,
        "token_expires": _iso(r.token_exp),
        "busy": s.busy,
        "cooldowns": [
            {"capability": c.capability, "kind": c.kind, "until": _iso(c.until), "reason": c.reason}
            for c in s.cooldowns
        ],
        "requests": int(float(usage.get("requests", 0) or 0)),
        "failures": int(float(usage.get("failures", 0) or 0)),
        "last_used": _iso(usage.get("last_used")),
        "last_error": usage.get("last_error") or None,
        "last_error_at": _iso(usage.get("last_error_at")),
        # names only: cookie values are secrets
        "cookies": sorted(parse_header(str(usage.get("cookie") or ""))),
    }


def _iso(value: object) -> str | None:
    """Unix seconds as ISO 8601 UTC; None for unknown or forever."""
    if value in (None, ""):
        return None
    seconds = float(value)  # type: ignore[arg-type]
    if seconds >= FOREVER or seconds <= 0:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
