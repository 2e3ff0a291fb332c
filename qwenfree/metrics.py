"""Prometheus metrics (``GET /metrics``) and the upstream client's timing.

One registry per app, so tests can build many apps in one process. With several gunicorn
workers, prometheus_client's multiprocess mode aggregates them: the start-up environment sets
``PROMETHEUS_MULTIPROC_DIR`` (an empty directory), every worker writes its values there, and
``/metrics`` (served by any worker) reads them all; gunicorn.conf.py's ``child_exit`` marks dead
workers so their live gauges stop counting. Labels are bounded: dialect, resolved model, status,
call; never a token, key or email.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
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
from requests.adapters import HTTPAdapter

from qwenfree import meter, web
from qwenfree.events import Event
from qwenfree.settings import Settings
from qwenfree.upstream.client import UpstreamClient, UpstreamStream
from qwenfree.upstream.site import Site

bp = Blueprint("metrics", __name__)

LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
# (method, path prefix, call label) for upstream JSON calls; first match wins.
CALLS = (
    ("POST", "/api/v1/auths/signin", "signin"),
    ("GET", "/api/v1/auths", "auth_check"),
    ("GET", "/api/models", "models"),
    ("POST", "/api/v2/chats/new", "new_chat"),
    ("DELETE", "/api/v2/chats/", "delete_chat"),
)
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


class WireAdapter(HTTPAdapter):
    """Charges the request's meter with the time a call spends on the wire: sending, then
    waiting for the status line and headers. Our own work (bodies, headers, parsing) stays
    out, so the overhead header is what a client measuring us would see added."""

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return super().send(request, *args, **kwargs)
        finally:
            if (m := meter.current()) is not None:
                m.waited(time.perf_counter() - started)


class TimedClient(UpstreamClient):
    """The upstream client, timing every call for /metrics; the request's meter is charged
    only with wire time (``WireAdapter``, and the body reads of a stream)."""

    adapter_class = WireAdapter

    def __init__(self, settings: Settings, metrics: Metrics, site: Site | None = None) -> None:
        super().__init__(settings, site)
        self.metrics = metrics

    def json(self, method: str, path: str, token: str | None, body: Any = None, **kw: Any) -> Any:
        started = time.perf_counter()
        try:
            return super().json(method, path, token, body, **kw)
        finally:
            self.metrics.upstream.labels(_call(method, path)).observe(time.perf_counter() - started)

    def stream(self, path: str, token: str, body: Any, **kw: Any) -> UpstreamStream:
        started = time.perf_counter()
        try:
            opened = super().stream(path, token, body, **kw)
        finally:
            self.metrics.upstream.labels("completion_open").observe(time.perf_counter() - started)
        _time_reads(opened, meter.current())
        return TimedStream(opened, self)  # type: ignore[return-value]


def _time_reads(stream: UpstreamStream, metered: meter.Meter | None) -> None:
    """Charge each body read of ``stream`` to ``metered`` (kept: later reads may run in the
    heartbeat pump, where no meter is current)."""
    if metered is None:
        return
    chunks = stream._chunks

    def timed() -> Iterator[bytes]:
        source = chunks()
        while True:
            started = time.perf_counter()
            chunk = next(source, None)
            metered.waited(time.perf_counter() - started)
            if chunk is None:
                return
            yield chunk

    stream._chunks = timed  # type: ignore[method-assign]


class TimedStream:
    """An UpstreamStream timed to its first event, for /metrics."""

    def __init__(self, inner: UpstreamStream, client: TimedClient) -> None:
        self._inner = inner
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # parser, close, ...

    def __iter__(self) -> Iterator[Event]:
        events = iter(self._inner)
        started = time.perf_counter()
        try:
            first = next(events, None)
        finally:
            seconds = time.perf_counter() - started
            self._client.metrics.upstream.labels("completion_first_event").observe(seconds)
        if first is None:
            return
        yield first
        yield from events


def _call(method: str, path: str) -> str:
    return next((label for m, p, label in CALLS if m == method and path.startswith(p)), "other")
