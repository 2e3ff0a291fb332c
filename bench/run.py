"""The benchmark run: start the processes, run every phase in order, collect plain data."""

from __future__ import annotations

import dataclasses
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import phases
from bench.phases import OPENAI, Plan
from bench.procs import (
    ROOT,
    Fake,
    bench_fake,
    busy_seconds,
    gunicorn,
    other_load,
    raise_nofile,
)
from bench.routes import NON_STREAMS, STREAMS, Route

PACKAGES = ("gunicorn", "gevent", "greenlet", "Flask", "requests", "urllib3")


def log(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def run(plan: Plan, out_dir: Path) -> dict[str, Any]:
    """Run every phase; return the results (the report is rendered from them)."""
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    limits = raise_nofile()
    plan, skipped = fit_levels(plan, limits[0])
    data: dict[str, Any] = {"plan": dataclasses.asdict(plan), "machine": machine(limits)}
    data["machine"]["skipped_levels"] = skipped
    if skipped:
        log(f"open files limit {limits[0]}: skipping {skipped} streams", started)
    busy0, own0 = busy_seconds(), own_cpu()
    with bench_fake(out_dir) as fake:
        log(f"bench fake on {fake.url}", started)
        data |= first_worker(fake, plan, out_dir, started)
        data["capacity"] = capacity(fake, plan, out_dir, started)
        data["floor"] = floor(fake, plan, out_dir, started)
        data["scaling"] = scaling(fake, plan, out_dir, started)
    wall = time.monotonic() - started
    foreign = busy_seconds() - busy0 - (own_cpu() - own0)
    data["conditions"] = {
        "wall_s": wall,
        "foreign_cores": max(0.0, foreign / wall),
        "loadavg_end": os.getloadavg(),
    }
    log("done", started)
    return data


def fit_levels(plan: Plan, nofile: int) -> tuple[Plan, list[int]]:
    """Drop the stream counts this process cannot hold open (two sockets each for a direct
    stream, plus spare descriptors)."""
    most = max(1, (nofile - 256) // 2)
    levels = tuple(n for n in plan.levels if n <= most)
    skipped = [n for n in plan.levels if n > most]
    scaled = dataclasses.replace(
        plan,
        levels=levels or (most,),
        scaling_level=min(plan.scaling_level, most),
        floor_level=min(plan.floor_level, most),
    )
    return scaled, skipped


def measured(pids: list[int], call: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one phase; add the cores other processes used meanwhile (``other_cores``)."""
    with other_load(pids) as load:
        row = call(*args)
    return row | load


def first_worker(fake: Fake, plan: Plan, out_dir: Path, started: float) -> dict[str, Any]:
    """Overhead, relay cost and the chat-pool estimate, on one default worker."""
    out: dict[str, Any] = {"overhead": [], "relay": []}
    with gunicorn(fake, out_dir) as gw:
        phases.warm(gw)
        for route in STREAMS + NON_STREAMS:
            log(f"overhead: {route.label}", started)
            pids = [fake.proc.pid, *gw.pids]
            out["overhead"].append(measured(pids, phases.overhead, fake, gw, route, plan))
        log("relay: direct baseline", started)
        pids = [fake.proc.pid, *gw.pids]
        out["relay"].append(measured(pids, phases.relay_direct, fake, plan))
        for route in STREAMS + [Route("openai", False)]:
            log(f"relay: {route.label}", started)
            out["relay"].append(measured(pids, phases.relay_gateway, fake, gw, route, plan))
        log(f"relay: OpenAI stream, {plan.long_n}-piece answers", started)
        row = measured(pids, phases.relay_gateway, fake, gw, OPENAI, plan, plan.long_n)
        out["relay"].append(row | {"route": f"OpenAI stream, {plan.long_n}-piece answers"})
        log("chat pool estimate", started)
        out["pool"] = phases.chat_pool(fake, gw, plan)
    with gunicorn(fake, out_dir, QWENFREE_HEARTBEAT_INTERVAL="0") as gw:
        phases.warm(gw)
        log("relay: OpenAI stream, heartbeats off", started)
        row = measured([fake.proc.pid, *gw.pids], phases.relay_gateway, fake, gw, OPENAI, plan)
        out["relay"].append(row | {"route": "OpenAI stream, heartbeats off"})
    return out


def capacity(fake: Fake, plan: Plan, out_dir: Path, started: float) -> list[dict[str, Any]]:
    """Each level on a fresh worker, so its RSS growth belongs to that level alone."""
    rows = []
    for count in plan.levels:
        log(f"capacity: {count} streams direct", started)
        phases.fake_stats(fake)
        baseline = measured([fake.proc.pid], phases.capacity_direct, fake, count, plan)
        baseline["fake"] = phases.fake_stats(fake)
        log(f"capacity: {count} streams through one worker", started)
        with gunicorn(fake, out_dir, connections=max(1000, count + 100)) as gw:
            phases.warm(gw)
            phases.fake_stats(fake)
            row = measured([fake.proc.pid, *gw.pids], phases.capacity_gateway, gw, count, plan)
            row["fake"] = phases.fake_stats(fake)
        rows.append({"count": count, "direct": baseline, "gateway": row})
    return rows


def floor(fake: Fake, plan: Plan, out_dir: Path, started: float) -> dict[str, Any]:
    """The same measurements against bench/passthrough.py: the stack without qwenfree."""
    count = plan.floor_level
    app = "bench.passthrough:create_app()"
    with gunicorn(fake, out_dir, connections=max(1000, count + 100), app=app) as gw:
        phases.warm(gw)
        pids = [fake.proc.pid, *gw.pids]
        log("floor: overhead of a pass-through", started)
        overhead = measured(pids, phases.overhead, fake, gw, OPENAI, plan)
        log("floor: relay", started)
        relay = measured(pids, phases.relay_gateway, fake, gw, OPENAI, plan)
        log(f"floor: {count} streams", started)
        phases.fake_stats(fake)
        streams = measured(pids, phases.capacity_gateway, gw, count, plan)
        streams["fake"] = phases.fake_stats(fake)
    label = "pass-through floor"
    return {
        "overhead": overhead | {"route": label},
        "relay": relay | {"route": label},
        "capacity": {"count": count, "gateway": streams},
    }


def scaling(fake: Fake, plan: Plan, out_dir: Path, started: float) -> dict[str, Any]:
    """WEB_CONCURRENCY=2 on this machine: relay saturation and one capacity level."""
    count = plan.scaling_level
    with gunicorn(fake, out_dir, workers=2, connections=max(1000, count + 100)) as gw:
        phases.warm(gw, 40)
        log("scaling: relay with 2 workers", started)
        pids = [fake.proc.pid, *gw.pids]
        relay = measured(pids, phases.relay_gateway, fake, gw, OPENAI, plan)
        log(f"scaling: {count} streams over 2 workers", started)
        streams = measured(pids, phases.capacity_gateway, gw, count, plan)
    return {"workers": 2, "relay": relay, "count": count, "capacity": streams}


def own_cpu() -> float:
    """CPU seconds of this process and of its reaped children (fake, gunicorn and workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def machine(limits: tuple[int, int]) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(
            _git("status", "--porcelain", "--", "qwenfree", "wsgi.py", "gunicorn.conf.py")
        ),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "nofile": limits,
        "loadavg_start": os.getloadavg(),
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except OSError:
        return ""
    return done.stdout.strip()
