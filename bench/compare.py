"""Side by side with another OpenAI-compatible gateway: ``python -m bench --compare URL``.

The other gateway (the original project, a peer) must use the bench fake as its upstream: the
fake listens on ``--fake-port`` (9200 by default), so start the peer against
``http://127.0.0.1:9200`` (it may start before or after this command; we wait for it). Both
gateways are called with the same OpenAI streaming requests (``Authorization: Bearer
bench-token-0001``, model ``qwen3-max``), in alternating rounds, each paired with a direct
client in the same run; qwenfree runs as one default gunicorn worker. The table is the
issue-17 comparison; it goes to stdout and ``bench/out/compare.md`` (RESULTS.md is left alone).
``--compare-pid`` names the peer's process, for its RSS per open stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import phases, stats
from bench.client import Conn
from bench.load import HOST, paired
from bench.phases import OPENAI, Plan
from bench.procs import bench_fake, cpu_seconds, gunicorn, rss_kb
from bench.routes import spec, via_gateway

Row = dict[str, Any]
COMPARE = Plan(level_gap=0.02, levels=(100, 500), seq_pairs=200)  # 50 events/s per stream
SMOKE = replace(phases.SMOKE, level_gap=0.02, levels=(10,))


@dataclass
class Peer:
    """Another gateway, reached over HTTP; its process is known only when given."""

    host: str
    port: int
    pid: int = 0

    @property
    def workers(self) -> list[int]:
        return [self.pid] if self.pid else []

    def rss_kb(self) -> int:
        return rss_kb(self.pid) if self.pid else 0

    def cpu(self) -> float:
        return cpu_seconds(self.pid) if self.pid else 0.0


def peer_of(url: str, pid: int = 0) -> Peer:
    parts = urlsplit(url if "//" in url else "http://" + url)
    return Peer(parts.hostname or HOST, parts.port or 80, pid)


def wait_for(peer: Peer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with Conn(peer.host, peer.port, timeout=5) as conn:
                if via_gateway(conn, OPENAI, spec(3)).status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{peer.host}:{peer.port} did not answer a streamed completion")
        time.sleep(1)


def run(url: str, out_dir: Path, *, fake_port: int, pid: int, rounds: int, smoke: bool) -> Row:
    plan = SMOKE if smoke else COMPARE
    peer = peer_of(url, pid)
    out_dir.mkdir(parents=True, exist_ok=True)
    with bench_fake(out_dir, fake_port) as fake:
        print(f"bench fake on {fake.url}: point the other gateway's upstream there", flush=True)
        wait_for(peer, 5 if smoke else 300)
        with gunicorn(fake, out_dir, connections=2000) as ours:
            found = measure(fake, ours, peer, plan, rounds)
    return {"url": url, "rounds": rounds, "plan": plan} | found


def measure(fake: Any, ours: Any, other: Any, plan: Plan, rounds: int) -> Row:
    """Both gateways on ``fake``, alternating: added TTFB/total (sequential pairs), then each
    capacity level (first event, event-rate share, RSS per stream)."""
    phases.warm(ours)
    phases.warm(other)
    sides: dict[str, Any] = {"qwenfree": ours, "other": other}
    added: dict[str, list[Row]] = {name: [] for name in sides}
    for r in range(rounds):
        for name in sides if r % 2 == 0 else reversed(sides):
            gw = sides[name]
            found, _ = paired(
                fake.port, gw.port, OPENAI, spec(plan.answer_n), plan.seq_pairs, 1,
                plan.warmup, gw_host=getattr(gw, "host", HOST),
            )  # fmt: skip
            added[name].append(phases._pair_stats(found, plan.answer_n))
    levels = []
    for i, count in enumerate(plan.levels):
        row = {"count": count, "direct": phases.capacity_direct(fake, count, plan)}
        for name in sides if i % 2 else reversed(sides):  # who goes first alternates
            row[name] = phases.capacity_gateway(sides[name], count, plan)
        levels.append(row)
    return {"added": added, "levels": levels}


def render(data: Row) -> str:
    def both(name: str, metric: str) -> str:
        values = [a[metric]["added_p50_ms"] for a in data["added"][name]]
        return " / ".join(f"+{v:.2f} ms" for v in values)

    def share(level: Row, name: str) -> str:
        pieces = level[name]["pieces_in_window"]
        return f"{stats.ratio(pieces, level['direct']['pieces_in_window']):.2f}"

    def first(level: Row, name: str) -> str:
        r = level[name]
        return f"{r['ttft_p50_ms']:.0f} ms / {r['ttft_p99_ms']:.0f} ms"

    def kb(level: Row, name: str) -> str:
        value = level[name].get("kb_per_stream", 0)
        return f"{value:.0f} KB" if value > 0 else "not measured (--compare-pid)"

    gap = data["plan"].level_gap
    lines = [
        f"{data.get('heading', '#')} qwenfree vs {data['url']}",
        "",
        f"Same machine, same bench fake; {data['rounds']} alternating rounds of sequential pairs "
        "(each request paired with a direct client); streams at "
        f"{1 / gap:.0f} events/s each.",
        "",
        "| measure (same run) | other gateway | qwenfree |",
        "|---|---|---|",
        f"| added time to first byte, p50 | {both('other', 'ttft')} | {both('qwenfree', 'ttft')} |",
        f"| added total time, p50 | {both('other', 'total')} | {both('qwenfree', 'total')} |",
    ]
    for level in data["levels"]:
        n = level["count"]
        lines += [
            f"| {n} streams: share of the direct event rate | {share(level, 'other')} "
            f"| {share(level, 'qwenfree')} |",
            f"| {n} streams: first event p50 / p99 | {first(level, 'other')} "
            f"| {first(level, 'qwenfree')} |",
            f"| {n} streams: RSS per open stream | {kb(level, 'other')} "
            f"| {kb(level, 'qwenfree')} |",
        ]
    return "\n".join(lines) + "\n"
