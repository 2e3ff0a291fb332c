"""Run the soak: the fake upstream in this process, the gateway as `make serve` runs it (gunicorn,
one gevent worker) in a child process, client threads sending mixed traffic for a fixed time,
and a sampler reading the worker's resident memory and open file descriptors from /proc."""

from __future__ import annotations

import collections
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from soak import traffic
from soak.upstream import SoakUpstream

ROOT = Path(__file__).resolve().parent.parent
WARMUP = 0.2  # the first fifth of the run settles allocators and pools: not the baseline


@dataclass
class Sample:
    t: float
    rss_kib: int
    fds: int


@dataclass
class Report:
    seconds: float
    requests: int
    by_case: dict[str, int]
    unexpected: list[traffic.Outcome]
    samples: list[Sample]
    upstream_open_at_end: int
    server_errors: list[str] = field(default_factory=list)

    def baseline(self) -> Sample:
        after = [s for s in self.samples if s.t >= self.seconds * WARMUP]
        return after[0] if after else self.samples[0]

    @property
    def rss_growth_kib(self) -> int:
        return self.samples[-1].rss_kib - self.baseline().rss_kib

    @property
    def fd_growth(self) -> int:
        return self.samples[-1].fds - self.baseline().fds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gateway(upstream_url: str, log: Path) -> Iterator[tuple[str, int]]:
    """gunicorn on a free port; yields (url, worker pid); SIGTERM and wait at the end."""
    port = free_port()
    env = os.environ | {
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "QWENFREE_UPSTREAM_URL": upstream_url,
        "QWENFREE_READ_TIMEOUT": "1",
        "QWENFREE_HEARTBEAT_INTERVAL": "0.5",
        "QWENFREE_CHAT_TTL": "2",
        "QWENFREE_GRACEFUL_TIMEOUT": "10",
    }
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url, _worker(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(url + "/healthz", timeout=1).ok:
                return
        except (requests.ConnectionError, requests.Timeout):  # refused, or still booting
            time.sleep(0.1)
    raise RuntimeError("the gateway did not start")


def _worker(master: int) -> int:
    with open(f"/proc/{master}/task/{master}/children") as f:
        return int(f.read().split()[0])


def sample(pid: int, t: float) -> Sample:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return Sample(round(t, 1), rss, len(os.listdir(f"/proc/{pid}/fd")))


def run(seconds: float, concurrency: int = 8, seed: int = 1, log_dir: Path | None = None) -> Report:
    """Soak the gateway for ``seconds``; return what happened."""
    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    fake = SoakUpstream().start()
    outcomes: list[traffic.Outcome] = []
    samples: list[Sample] = []
    log = log_dir / f"soak-gateway-{os.getpid()}.log"
    try:
        with gateway(fake.url, log) as (url, worker):
            started = time.monotonic()
            stop = started + seconds
            counter = iter(range(1, 1 << 62))
            lock = threading.Lock()

            def client(n: int) -> None:
                rng = random.Random(seed * 1000 + n)
                while time.monotonic() < stop:
                    with lock:
                        seq = next(counter)
                    outcomes.append(traffic.send(url, seq, *traffic.pick(rng)))

            threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                samples.append(sample(worker, time.monotonic() - started))
                fake.forget()
                time.sleep(min(5.0, max(0.5, seconds / 60)))
            for t in threads:
                t.join()
            fake.wait_until(lambda: fake.active_streams == 0, timeout=15)
            time.sleep(1.0)  # let closed sockets and finished greenlets go
            samples.append(sample(worker, time.monotonic() - started))
            open_at_end = fake.active_streams
    finally:
        fake.stop()
    errors = [x for x in log.read_text(errors="replace").splitlines() if "Traceback" in x]
    return Report(
        seconds=seconds,
        requests=len(outcomes),
        by_case=dict(collections.Counter(o.case for o in outcomes)),
        unexpected=[o for o in outcomes if not o.ok],
        samples=samples,
        upstream_open_at_end=open_at_end,
        server_errors=errors,
    )
