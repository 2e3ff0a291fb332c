"""Load patterns, run as gevent greenlets in this process: paired requests, many open streams."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent

from bench.client import Conn, Result
from bench.routes import Route, direct, via_gateway

HOST = "127.0.0.1"
Pair = tuple[Result, Result]  # (direct, gateway)


def paired(
    fake_port: int,
    gw_port: int,
    route: Route,
    text: str,
    pairs: int,
    concurrency: int,
    warmup: int,
    gw_host: str = HOST,
) -> tuple[list[Pair], float]:
    """``concurrency`` clients each alternate a direct and a gateway request (order flipping
    every pair) on their own keep-alive connections; ``warmup`` pairs in all are dropped.
    Returns the kept pairs and the rate of pairs per second over the whole run."""
    per_client = max(1, pairs // concurrency)
    warmup = max(1, warmup // concurrency)
    out: list[Pair] = []
    started = time.perf_counter()

    def client() -> None:
        with Conn(HOST, fake_port) as up, Conn(gw_host, gw_port) as gw:
            for i in range(warmup + per_client):
                if i % 2:
                    g = via_gateway(gw, route, text)
                    d = direct(up, text)
                else:
                    d = direct(up, text)
                    g = via_gateway(gw, route, text)
                if i >= warmup:
                    out.append((d, g))

    gevent.joinall([gevent.spawn(client) for _ in range(concurrency)], raise_error=True)
    return out, concurrency * (warmup + per_client) / (time.perf_counter() - started)


@dataclass
class Live:
    """How many streams are open right now, and samples taken while they run."""

    started: float = 0.0  # perf_counter when the first stream was started
    open: int = 0
    # (time, open streams, sample()) every ``every`` seconds
    samples: list[tuple[float, int, Any]] = field(default_factory=list)


def many_streams(
    port: int,
    count: int,
    ramp: float,
    request: Callable[[Conn, int], Result],
    sample: Callable[[], Any] | None = None,
    every: float = 0.25,
    host: str = HOST,
) -> tuple[list[Result], Live]:
    """Open ``count`` streams (each on a new connection), starts spread over ``ramp`` seconds;
    while they run, call ``sample()`` (e.g. the worker's RSS) every ``every`` seconds."""
    live = Live(started=time.perf_counter())

    def one(i: int) -> Result:
        gevent.sleep(max(0.0, live.started + ramp * i / count - time.perf_counter()))
        live.open += 1
        try:
            with Conn(host, port) as conn:
                return request(conn, i)
        except OSError as exc:
            return Result(start=time.perf_counter(), end=time.perf_counter(), error=repr(exc))
        finally:
            live.open -= 1

    def sampler() -> None:
        while True:
            live.samples.append((time.perf_counter(), live.open, sample() if sample else None))
            gevent.sleep(every)

    watch = gevent.spawn(sampler)
    jobs = [gevent.spawn(one, i) for i in range(count)]
    gevent.joinall(jobs)
    watch.kill()
    return [job.value for job in jobs], live


def gateway_stream(route: Route, text: Callable[[int], str]) -> Callable[[Conn, int], Result]:
    """Stream ``i`` asks the gateway for the answer ``text(i)``, noting each piece's arrival."""
    return lambda conn, i: via_gateway(conn, route, text(i), track=True)


def direct_stream(text: Callable[[int], str]) -> Callable[[Conn, int], Result]:
    return lambda conn, i: direct(conn, text(i), track=True)
