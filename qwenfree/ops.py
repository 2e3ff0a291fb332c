"""Operations wiring: caller keys, rate limits, the account pool and its store, metrics.

:func:`build` makes them from the settings; :func:`install` adds the request hooks:

* before each API request (every route but the public ones in ``PUBLIC_ENDPOINTS`` and the admin
  blueprint, which checks its own key): open its :class:`~qwenfree.meter.Meter`; in
  server-account mode check the caller's key and its rate limit (401/429 in the dialect).
  Closed by default, so a new blueprint is keyed and metered without being listed anywhere;
  tests/api/test_routes_auth.py walks the URL map to keep it that way;
* after it: the ``x-qwenfree-overhead-ms`` header and the active-stream gauge;
* when it ends (``web._log``): metrics and the key's usage counters, through the meter's sink.

Client-token mode (no ``QWENFREE_API_KEYS``) opens no store and writes nothing to disk: the
tokens belong to the callers, and their health stays in memory per worker, as before.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request

from qwenfree import dialects, errors, meter, web
from qwenfree.auth import Keys, RateLimit, require_user
from qwenfree.metrics import Metrics
from qwenfree.series import Series
from qwenfree.settings import Settings
from qwenfree.store import REDIS_SCHEMES, Store, open_store
from qwenfree.upstream.accounts import parse_accounts
from qwenfree.upstream.client import UpstreamClient
from qwenfree.upstream.credentials import TokenKeeper
from qwenfree.upstream.pool import AccountPool

log = logging.getLogger(__name__)
# Routes anyone may call in server-account mode: pages, their static files and live status,
# the API reference, probes and metrics. Nothing here may reach an account or the upstream
# with a caller's data. Every other route needs a caller key.
PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "home.index",
        "home.status",
        "home.docs",
        "home.openapi_json",
        "health.ping",
        "health.hello",
        "health.healthz",
        "health.readyz",
        "metrics.metrics",
    }
)
OWN_AUTH_BLUEPRINTS = frozenset({"admin"})  # the admin key, checked in qwenfree/admin.py


def is_api_request() -> bool:
    """Does this request need a caller key (in server-account mode) and a meter?

    Unrouted requests (404/405) and CORS preflights carry no work and stay unkeyed."""
    endpoint = request.endpoint
    if endpoint is None or request.method == "OPTIONS":
        return False
    return endpoint not in PUBLIC_ENDPOINTS and request.blueprint not in OWN_AUTH_BLUEPRINTS


@dataclass
class Ops:
    settings: Settings
    metrics: Metrics
    keys: Keys
    keeper: TokenKeeper | None = None  # turns refresh tokens into access tokens
    store: Store | None = None  # server-account mode (pass-through: opened by the keeper)
    pool: AccountPool | None = None
    limit: RateLimit | None = None
    clock: Callable[[], float] = time.time
    series: Series | None = None  # per-minute counters for the admin charts (server accounts)

    def models_token(self, token: str | None) -> str | None:
        """The token to list models with: in server-account mode the caller's credential is
        our key, never to be sent upstream, so an account's token is used instead."""
        return self.pool.any_token() if self.pool is not None else token

    def finish(self, m: meter.Meter, fields: dict[str, Any]) -> dict[str, Any]:
        """The meters' sink: metrics, then the caller key's usage counters."""
        self.metrics.finish(m, fields)
        if self.series is not None:
            try:
                self.series.record(m, fields)
            except Exception:  # a chart is bookkeeping too
                log.warning("could not record the minute's counters", exc_info=True)
        if self.store is None or not m.key_id:
            return {}
        status, outcome = int(fields.get("status") or 0), fields.get("outcome")
        failed = int(status >= 400 or outcome not in ("ok", "client_disconnected"))
        counts = {"requests": 1, "failed": failed}
        counts |= {"input_tokens": m.input_tokens, "output_tokens": m.output_tokens}
        try:
            self.store.bump("key:" + m.key_id, counts, {"last_used": self.clock()})
        except Exception:  # usage is bookkeeping: never fail a finished request over it
            log.warning("could not record key usage", exc_info=True)
        return {"key": m.key_id}

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


def build(settings: Settings, client: UpstreamClient, metrics: Metrics) -> Ops:
    """Keys, and in server-account mode the store, the pool (synced from the settings) and the
    rate limit."""
    keys = Keys(settings)
    ops = Ops(settings, metrics, keys)
    if not keys.enabled:
        # Callers' refresh tokens rotate: the newest is kept in the store (keyed by a SHA-256
        # of the refresh token), opened only once a caller sends one.
        ops.keeper = TokenKeeper(
            client,
            settings.auth_url,
            settings.refresh_ahead,
            on_refresh=metrics.refreshed,
            open_store=partial(_open_store, ops, settings),
        )
        return ops
    specs = parse_accounts(settings.accounts)
    if settings.accounts_file:
        text = Path(settings.accounts_file).read_text(encoding="utf-8")
        specs += parse_accounts(text, one_per_line=True)
    ops.store = open_store(settings.store, settings.data_dir)
    ops.keeper = TokenKeeper(
        client, settings.auth_url, settings.refresh_ahead, ops.store, on_refresh=metrics.refreshed
    )
    ops.pool = AccountPool(
        settings, ops.store, client, on_refresh=metrics.refreshed, keeper=ops.keeper
    )
    ops.pool.sync(specs)
    ops.series = Series(ops.store, states=ops.pool.counts)
    if settings.rate_limit.strip():
        ops.limit = RateLimit(settings.rate_limit, ops.store)
    if not specs:
        log.warning("server-account mode with no QWENFREE_ACCOUNTS: add accounts in /admin")
    return ops


def _open_store(ops: Ops, settings: Settings) -> Store:
    ops.store = open_store(settings.store, settings.data_dir)
    return ops.store


def install(app: Flask, ops: Ops) -> None:
    """Register the hooks (after web.install, so request ids exist when a 401 is rendered)."""

    @app.before_request
    def _admit() -> None:
        if not is_api_request():
            meter.use(None)
            return
        dialect = dialects.for_request(request.path, request.blueprint, request.headers)
        metered = meter.Meter(dialect, sink=ops.finish)
        meter.use(metered)
        if ops.keys.enabled:
            metered.key_id = require_user(ops.keys)
            if ops.limit is not None:
                ops.limit.check(metered.key_id)

    def _store_failed(exc: Exception) -> Response:
        log.error("the state store failed: %s", exc)
        return web.error_response(
            errors.StoreUnavailable("The gateway's state store is unavailable")
        )

    app.register_error_handler(sqlite3.Error, _store_failed)
    if ops.store is not None and ops.settings.store.startswith(REDIS_SCHEMES):
        # Imported only when Redis is in use: it costs ~70 ms of every worker's start.
        import redis

        app.register_error_handler(redis.RedisError, _store_failed)

    @app.after_request
    def _measure(response: Response) -> Response:
        metered = meter.current()
        if metered is None:
            return response
        if g.get("streaming") and not metered.stream:
            metered.stream = True  # the stream's end (web._log) takes it back off
            ops.metrics.active.inc()
        response.headers["x-qwenfree-overhead-ms"] = f"{metered.overhead() * 1000:.2f}"
        return response

    @app.teardown_request
    def _forget(exc: BaseException | None) -> None:
        # A keep-alive connection's next request runs in the same greenlet: it must not find
        # this meter (a request answered before _admit, such as a CORS preflight, sets none).
        # A stream keeps its own reference (web._log_fields, the service).
        meter.use(None)
