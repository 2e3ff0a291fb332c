"""Prometheus metrics (``GET /metrics``), fed by the meters' sink (one finished API request)
and by the upstream clients' observers (one ``CallRecord`` per upstream call).

One registry per app, so tests can build many apps in one process. With several gunicorn
workers, prometheus_client's multiprocess mode aggregates them: the start-up environment sets
``PROMETHEUS_MULTIPROC_DIR`` (an empty directory), every worker writes its values there, and
``/metrics`` (served by any worker) reads them all; gunicorn.conf.py's ``child_exit`` marks dead
workers so their live gauges stop counting. Labels are bounded: dialect, resolved model, status,
call; never a token, key or email.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from qwenfree import meter, web
from qwenfree.upstream.calls import CallRecord

bp = Blueprint("metrics", __name__)

LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
ACCOUNT_STATES = ("ready", "busy", "failing", "cooling", "dead")


class Metrics:
    def __init__(self, multiproc_dir: str = "") -> None:
        self.multiproc_dir = multiproc_dir
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "qwenfree_requests", "API requests", ["dialect", "model", "status"], registry=r
        )
        self.duration = Histogram(
            "qwenfree_request_duration_seconds",
            "Whole request, to the last byte",
            ["dialect", "stream"],
            buckets=LATENCY,
            registry=r,
        )
        self.ttfb = Histogram(
            "qwenfree_ttfb_seconds",
            "From the request to the answer's first event",
            ["dialect", "stream"],
            buckets=LATENCY,
            registry=r,
        )
        self.overhead = Histogram(
            "qwenfree_proxy_overhead_seconds",
            "Time not spent waiting on the upstream (streams: until the first event)",
            ["dialect", "stream"],
            buckets=OVERHEAD,
            registry=r,
        )
        self.upstream = Histogram(
            "qwenfree_upstream_seconds",
            "Upstream call latency (completion_open: to the status line; "
            "completion_first_event: from there to the first event)",
            ["call"],
            buckets=LATENCY,
            registry=r,
        )
        self.tokens = Counter(
            "qwenfree_tokens", "Tokens", ["dialect", "model", "direction"], registry=r
        )
        self.active = Gauge(
            "qwenfree_active_streams", "Streams open now", registry=r, multiprocess_mode="livesum"
        )
        self.upstream_errors = Counter(
            "qwenfree_upstream_errors", "Failed upstream tries by kind", ["kind"], registry=r
        )
        self.accounts = Gauge(
            "qwenfree_accounts",
            "Server-held upstream accounts by state",
            ["state"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.refreshes = Counter(
            "qwenfree_token_refresh", "Account sign-ins by result", ["result"], registry=r
        )
        self.disconnects = Counter(
            "qwenfree_client_disconnects", "Streams the client left early", registry=r
        )
        self.warm_ready = Gauge(
            "qwenfree_warm_chats",
            "Upstream chats created ahead, ready to lease",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.warm_leases = Counter(
            "qwenfree_warm_chat_leases",
            "New chats asked of the warm pool: hit (one was ready) or miss (created on the spot)",
            ["result"],
            registry=r,
        )

    def upstream_call(self, record: CallRecord) -> None:
        """An upstream client's observer: a JSON call is timed whole under the name its site
        gives it; a stream to its status line, then from its first read to its first event."""
        if not record.stream:
            self.upstream.labels(record.endpoint).observe(record.seconds)
            return
        if record.open_seconds is not None:
            self.upstream.labels("completion_open").observe(record.open_seconds)
        if record.first_event_seconds is not None:
            self.upstream.labels("completion_first_event").observe(record.first_event_seconds)

    def refreshed(self, result: str) -> None:
        """The keeper's and the pool's report of one sign-in or refresh ("ok", or why not)."""
        self.refreshes.labels(result).inc()

    def warm_chats(self, event: str, ready: int) -> None:
        """The warm pool's report (upstream/warm_chats.py): a lease, or a change of size."""
        self.warm_ready.set(ready)
        if event:
            self.warm_leases.labels(event).inc()

    def render(self, account_counts: dict[str, int] | None) -> bytes:
        """The exposition text: this process's registry, or every worker's files."""
        for state, n in (account_counts or {}).items():
            self.accounts.labels(state).set(n)
        if not self.multiproc_dir:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)
        return generate_latest(registry)

    def finish(self, m: meter.Meter, fields: dict[str, Any]) -> dict[str, Any]:
        """Record one finished API request (a meter sink)."""
        stream = "true" if m.stream else "false"
        model = m.model or "none"
        self.requests.labels(m.dialect, model, str(fields.get("status"))).inc()
        self.duration.labels(m.dialect, stream).observe(time.perf_counter() - m.started)
        if (ttfb := m.ttfb()) is not None:
            self.ttfb.labels(m.dialect, stream).observe(ttfb)
        self.overhead.labels(m.dialect, stream).observe(m.overhead())
        if m.input_tokens or m.output_tokens:
            self.tokens.labels(m.dialect, model, "input").inc(m.input_tokens)
            self.tokens.labels(m.dialect, model, "output").inc(m.output_tokens)
        for kind in m.upstream_errors:
            self.upstream_errors.labels(kind).inc()
        if fields.get("outcome") == "client_disconnected":
            self.disconnects.inc()
        if m.stream:
            self.active.dec()
        return {}


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics (all workers); no authentication, no secrets."""
    ops = web.state().ops
    counts = ops.pool.counts() if ops.pool is not None else None
    return Response(ops.metrics.render(counts), content_type=CONTENT_TYPE_LATEST)


def request_wire() -> Callable[[float], None] | None:
    """The upstream clients' ``wire`` hook: a call made while an API request runs charges its
    wire time to that request's meter (``x-qwenfree-overhead-ms`` leaves it out)."""
    metered = meter.current()
    return metered.waited if metered is not None else None
