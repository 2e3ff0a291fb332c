"""Microbenchmark: worker CPU per request and per relayed event, in one process.

``python -m bench.micro [--requests N] [--pieces N] [--profile]`` starts the bench fake in a
subprocess and the app in this process (Flask's test client, no gunicorn), then reads
``time.process_time`` around sequential requests in each dialect: CPU per short request, and
CPU per relayed event of long answers (minus the short request's cost). The fake and the
client parse nothing of ours in this process, so the numbers are the app's own work; they
move with the machine's load less than wall-clock times do. ``--profile`` prints cProfile's
top functions of the short-request loop.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import socket
import subprocess
import sys
import time
from typing import Any

from bench.routes import STREAMS, Route, spec


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the bench fake did not start")


OVERHEADS: list[float] = []  # x-qwenfree-overhead-ms of every request


def _run(client: Any, route: Route, text: str) -> int:
    path, headers, body = route.build(text)
    r = client.post(path, headers=headers, json=body, buffered=False)
    size = sum(len(chunk) for chunk in r.response)
    r.close()
    if r.status_code != 200:
        raise RuntimeError(f"{route.label}: HTTP {r.status_code}")
    OVERHEADS.append(float(r.headers.get("x-qwenfree-overhead-ms", "nan")))
    return size


def cpu_per(client: Any, route: Route, text: str, n: int) -> float:
    """Seconds of this process's CPU per request."""
    for _ in range(min(20, n)):
        _run(client, route, text)
    started = time.process_time()
    for _ in range(n):
        _run(client, route, text)
    return (time.process_time() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--pieces", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--warm", default="", help="QWENFREE_WARM_CHATS value (if supported)")
    args = parser.parse_args()

    port = _free_port()
    fake = subprocess.Popen([sys.executable, "-m", "bench.fake", "--port", str(port)])
    try:
        _wait(port)
        from qwenfree import create_app
        from qwenfree.settings import Settings

        extra: dict[str, Any] = {}
        if args.warm and "warm_chats" in Settings.__dataclass_fields__:
            extra["warm_chats"] = args.warm not in ("0", "false", "off")
        settings = Settings(
            upstream_url=f"http://127.0.0.1:{port}", chat_ttl=-1, log_level="WARNING", **extra
        )
        app = create_app(settings)
        client = app.test_client()
        short, long_ = spec(5), spec(args.pieces)
        for route in STREAMS:
            OVERHEADS.clear()
            per_request = cpu_per(client, route, short, args.requests)
            header = sorted(OVERHEADS)[len(OVERHEADS) // 2]
            per_long = cpu_per(client, route, long_, max(5, args.requests // 30))
            per_event = (per_long - per_request) / (args.pieces - 5)
            print(
                f"{route.label:18} {per_request * 1e6:8.0f} µs CPU/request "
                f"{per_event * 1e6:6.1f} µs CPU/event  overhead header p50 {header:.2f} ms"
            )
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(args.requests):
                _run(client, STREAMS[0], short)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            profiler.dump_stats("/tmp/micro.prof")
        app.extensions["qwenfree"].close()
    finally:
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    main()
