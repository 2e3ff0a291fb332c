"""The measurements. Each returns plain data (JSON-ready); report.py turns it into tables.

Every gateway number is paired with a baseline taken in the same run against the same fake
(the "direct" client doing chats/new + completions itself), so noise from other work on the
machine shows up on both sides and the ratios stay meaningful.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

from bench import stats
from bench.client import Conn, Result
from bench.load import HOST, Live, direct_stream, gateway_stream, many_streams, paired
from bench.procs import Fake, Gateway, cpu_seconds
from bench.routes import TOKEN, Route, direct, new_chat, spec, via_gateway

Row = dict[str, Any]
OPENAI = Route("openai", True)


@dataclass(frozen=True)
class Plan:
    """How much of everything to run (the full run, or the few-second smoke run)."""

    seq_pairs: int = 200
    conc_pairs: int = 500
    concurrency: int = 50
    warmup: int = 10
    answer_n: int = 50  # pieces per answer in the overhead phase
    levels: tuple[int, ...] = (100, 500, 1000, 2000)
    level_gap: float = 0.1  # seconds between pieces: a model streaming 10 events/s
    ramp_rate: float = 150.0  # new streams per second while a level opens its streams
    settle: float = 2.0  # seconds after the last start before measuring
    plateau: float = 5.0  # seconds measured with every stream open
    relay_streams: int = 50
    relay_n: int = 2000
    long_n: int = 20000  # per-event cost must not grow with the answer's length
    scaling_level: int = 1000
    floor_level: int = 500  # capacity level also run against bench/passthrough.py
    pool_triples: int = 12
    pool_new_chat_delay: float = 0.1
    pool_first: float = 0.1


@dataclass(frozen=True)
class Level:
    """One capacity level: streams opened over ``ramp`` seconds, then measured in ``window``
    (offsets from the first start). Stream ``i`` starts at ``ramp * i / count`` and gets just
    enough pieces to stay open until the window has closed."""

    count: int
    ramp: float
    window: tuple[float, float]
    gap: float

    @classmethod
    def of(cls, plan: Plan, count: int) -> Level:
        ramp = count / plan.ramp_rate
        start = ramp + plan.settle
        return cls(count, ramp, (start, start + plan.plateau), plan.level_gap)

    def pieces(self, i: int) -> int:
        left = self.window[1] + 0.5 - self.ramp * i / self.count
        return math.ceil(left / self.gap) + 1

    def text(self, i: int) -> str:
        return spec(self.pieces(i), self.gap)


SMOKE = Plan(
    seq_pairs=6,
    conc_pairs=8,
    concurrency=4,
    warmup=1,
    answer_n=10,
    levels=(20,),
    level_gap=0.02,
    ramp_rate=200.0,
    settle=0.1,
    plateau=0.3,
    relay_streams=4,
    relay_n=100,
    long_n=400,
    scaling_level=20,
    floor_level=20,
    pool_triples=2,
    pool_new_chat_delay=0.01,
    pool_first=0.01,
)


def ok(result: Result, n: int) -> bool:
    return result.status == 200 and result.events == n and not result.error


def warm(gw: Gateway, n: int = 20) -> None:
    """A few requests so the worker has imported and cached everything (models list too)."""
    with Conn(getattr(gw, "host", HOST), gw.port) as conn:
        for _ in range(n):
            via_gateway(conn, OPENAI, spec(5))


def probe(gw: Gateway, route: Route) -> str | None:
    """None when the route answers; otherwise why the row is not available."""
    with Conn(getattr(gw, "host", HOST), gw.port) as conn:
        result = via_gateway(conn, route, spec(3))
    if ok(result, 3):
        return None
    if result.status in (404, 405):
        return f"not available (HTTP {result.status})"
    return f"failed: HTTP {result.status} {result.error} {result.body[:120]!r}"


# --------------------------------------------------------------------------- 1. overhead


def overhead(fake: Fake, gw: Gateway, route: Route, plan: Plan) -> Row:
    row: Row = {"route": route.label}
    missing = probe(gw, route)
    if missing:
        return row | {"missing": missing}
    text = spec(plan.answer_n)
    for name, pairs, conc in (("seq", plan.seq_pairs, 1), ("c50", plan.conc_pairs, 0)):
        conc = conc or plan.concurrency
        found, rate = paired(fake.port, gw.port, route, text, pairs, conc, plan.warmup)
        row[name] = _pair_stats(found, plan.answer_n) | {"concurrency": conc, "pairs_per_s": rate}
    return row


def _pair_stats(pairs: list[tuple[Result, Result]], n: int) -> Row:
    good = [(d, g) for d, g in pairs if ok(d, n) and ok(g, n)]
    out: Row = {"pairs": len(pairs), "failures": len(pairs) - len(good)}
    for metric in ("ttft", "total"):
        d = [getattr(p[0], metric) for p in good]
        g = [getattr(p[1], metric) for p in good]
        diff = [b - a for a, b in zip(d, g, strict=True)]
        out[metric] = {
            "direct_p50_ms": stats.percentile(d, 50) * 1000,
            "gateway_p50_ms": stats.percentile(g, 50) * 1000,
            "added_p50_ms": stats.percentile(diff, 50) * 1000,
            "added_p99_ms": stats.percentile(diff, 99) * 1000,
            "ratio_p50": stats.ratio(stats.percentile(g, 50), stats.percentile(d, 50)),
        }
    return out


# --------------------------------------------------------------------------- 2. capacity


def streams_summary(results: list[Result], level: Level, live: Live) -> Row:
    """Failures and TTFB over all streams; pieces and gaps only inside the measured window."""
    low, high = live.started + level.window[0], live.started + level.window[1]
    good = [r for i, r in enumerate(results) if ok(r, level.pieces(i))]
    inside = [[t for t in r.times if low <= t < high] for r in good]
    gaps = [g for times in inside for g in stats.gaps(times)]
    ttft = [r.ttft for r in good]
    errors = {r.error or f"HTTP {r.status}, {r.events} pieces" for r in results if r not in good}
    return {
        "streams": len(results),
        "pieces": level.pieces(0),
        "failures": len(results) - len(good),
        "errors": sorted(errors)[:5],
        "pieces_in_window": sum(len(times) for times in inside),
        "gap_p50_ms": stats.percentile(gaps, 50) * 1000,
        "gap_p99_ms": stats.percentile(gaps, 99) * 1000,
        "ttft_p50_ms": stats.percentile(ttft, 50) * 1000,
        "ttft_p99_ms": stats.percentile(ttft, 99) * 1000,
    }


def capacity_direct(fake: Fake, count: int, plan: Plan) -> Row:
    level = Level.of(plan, count)
    results, live = many_streams(fake.port, count, level.ramp, direct_stream(level.text))
    return streams_summary(results, level, live)


def capacity_gateway(gw: Gateway, count: int, plan: Plan, route: Route = OPENAI) -> Row:
    level = Level.of(plan, count)
    idle = gw.rss_kb()
    request = gateway_stream(route, level.text)
    sample = lambda: (gw.rss_kb(), gw.cpu())  # noqa: E731
    host = getattr(gw, "host", HOST)  # another gateway (bench/compare.py) may be remote
    results, live = many_streams(gw.port, count, level.ramp, request, sample, host=host)
    low, high = live.started + level.window[0], live.started + level.window[1]
    inside = [(t, rss, cpu) for t, _, (rss, cpu) in live.samples if low <= t <= high]
    peak = max((rss for _, rss, _ in inside), default=idle)
    first, last = (inside[0], inside[-1]) if len(inside) > 1 else ((0.0, 0, 0.0),) * 2
    cpu, span = last[2] - first[2], last[0] - first[0]
    # The pieces that arrived between the first and the last sample cost that CPU time.
    pieces = sum(first[0] <= t < last[0] for r in results for t in r.times)
    return streams_summary(results, level, live) | {
        "worker_us_per_event": 1e6 * cpu / pieces if pieces else math.nan,
        "rss_idle_mb": idle / 1024,
        "rss_peak_mb": peak / 1024,
        "kb_per_stream": (peak - idle) / count,
        "worker_cpu_pct": 100 * cpu / span / max(1, len(gw.workers)) if span else math.nan,
    }


# --------------------------------------------------------------------------- 3. relay cost


def relay(port: int, request: Any, plan: Plan, n: int, procs: dict[str, list[int]]) -> Row:
    """Stream ``plan.relay_streams`` answers of ``n`` pieces as fast as the fake writes them."""
    count = max(1, plan.relay_streams * plan.relay_n // n)
    cpu0 = {name: sum(cpu_seconds(p) for p in pids) for name, pids in procs.items()}
    client0, t0 = time.process_time(), time.perf_counter()
    results, _ = many_streams(port, count, 0.0, request)
    wall = time.perf_counter() - t0
    events = sum(r.events for r in results)
    cpu = {name: sum(cpu_seconds(p) for p in pids) - cpu0[name] for name, pids in procs.items()}
    cpu["client"] = time.process_time() - client0
    row: Row = {
        "streams": count,
        "pieces": n,
        "failures": sum(not ok(r, n) for r in results),
        "events_per_s": events / wall if wall else math.nan,
    }
    for name, seconds in cpu.items():
        row[f"{name}_us_per_event"] = 1e6 * seconds / events if events else math.nan
        row[f"{name}_cpu_pct"] = 100 * seconds / wall
    return row


def relay_gateway(fake: Fake, gw: Gateway, route: Route, plan: Plan, n: int = 0) -> Row:
    n = n or plan.relay_n
    missing = probe(gw, route)
    if missing:
        return {"route": route.label, "missing": missing}
    procs = {"worker": gw.workers, "fake": [fake.proc.pid]}
    text = spec(n)
    request = (
        gateway_stream(route, lambda i: text)
        if route.stream
        else (lambda conn, i: via_gateway(conn, route, text))
    )
    return {"route": route.label} | relay(gw.port, request, plan, n, procs)


def relay_direct(fake: Fake, plan: Plan) -> Row:
    text = spec(plan.relay_n)
    request = direct_stream(lambda i: text)
    row = relay(fake.port, request, plan, plan.relay_n, {"fake": [fake.proc.pid]})
    return {"route": "direct (fake + client only)"} | row


# --------------------------------------------------------------------------- 5. chat pool


def chat_pool(fake: Fake, gw: Gateway, plan: Plan) -> Row:
    """TTFB when chats/new costs ``pool_new_chat_delay``: naive direct, gateway, and a direct
    client whose chat was created beforehand (what warm chats give).
    Sequential, so no request waits behind another."""
    _configure(fake, plan.pool_new_chat_delay)
    text = spec(10, 0.01, plan.pool_first)
    rows: dict[str, list[float]] = {"naive": [], "gateway": [], "pooled": []}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        with Conn(HOST, fake.port) as up, Conn(HOST, gw.port) as gwc:
            for _ in range(plan.pool_triples):
                chat = new_chat(up, headers)  # created ahead, off the clock
                for name, result in (
                    ("naive", direct(up, text)),
                    ("gateway", via_gateway(gwc, OPENAI, text)),
                    ("pooled", direct(up, text, chat_id=chat)),
                ):
                    if ok(result, 10):
                        rows[name].append(result.ttft)
    finally:
        _configure(fake, 0.0)
    out: Row = {"new_chat_ms": plan.pool_new_chat_delay * 1000, "first_ms": plan.pool_first * 1000}
    for name, values in rows.items():
        out[f"{name}_ttft_p50_ms"] = stats.percentile(values, 50) * 1000
        out[f"{name}_n"] = len(values)
    return out


def _configure(fake: Fake, new_chat_delay: float) -> None:
    with Conn(HOST, fake.port) as conn:
        conn.request("POST", "/bench/config", {}, {"new_chat_delay": new_chat_delay})


def fake_stats(fake: Fake, reset: bool = True) -> Row:
    with Conn(HOST, fake.port) as conn:
        result = conn.request("GET", "/bench/stats" + ("?reset=1" if reset else ""), {})
    return json.loads(result.body)  # type: ignore[no-any-return]
