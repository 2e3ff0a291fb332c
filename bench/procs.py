"""The processes under test (bench fake, gunicorn) and what Linux says about them (/proc)."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gevent
from gevent import socket

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def raise_nofile() -> tuple[int, int]:
    """Lift the soft open-files limit to the hard one; children inherit it. Return both."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        soft = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft, hard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            gevent.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f}s")


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (0 once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def busy_seconds() -> float:
    """CPU time spent by the whole machine (all cores, all processes) since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    guest = sum(values[8:10]) if len(values) > 9 else 0  # already counted in user/nice
    return (sum(values) - idle - guest) / TICK


@contextlib.contextmanager
def other_load(pids: list[int]) -> Iterator[dict[str, float]]:
    """Cores used by processes other than this one and ``pids`` while the block runs (other
    work on the machine, e.g. test suites, competing with the benchmark)."""
    out: dict[str, float] = {}

    def own() -> float:
        return time.process_time() + sum(cpu_seconds(pid) for pid in pids)

    t0, busy0, own0 = time.perf_counter(), busy_seconds(), own()
    yield out
    wall = time.perf_counter() - t0
    out["other_cores"] = max(0.0, (busy_seconds() - busy0 - (own() - own0)) / wall)


def _stop(
    proc: subprocess.Popen[bytes], how: signal.Signals = signal.SIGTERM, timeout: float = 10.0
) -> None:
    if proc.poll() is None:
        proc.send_signal(how)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class Fake:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def bench_fake(log_dir: Path, port: int = 0) -> Iterator[Fake]:
    port = port or free_port()
    log = (log_dir / "fake.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.fake", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_listening(port, proc)
        yield Fake(proc, port)
    finally:
        _stop(proc)
        log.close()


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    port: int
    workers: list[int]
    log: Path

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid, *self.workers]

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.workers)

    def rss_kb(self) -> int:
        return sum(rss_kb(pid) for pid in self.workers)

    def log_count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text)


@contextlib.contextmanager
def gunicorn(
    fake: Fake,
    log_dir: Path,
    workers: int = 1,
    connections: int = 1000,
    app: str = "wsgi:app",
    root: Path = ROOT,
    **env: str,
) -> Iterator[Gateway]:
    """Serve the real app: ``gunicorn -c gunicorn.conf.py wsgi:app`` against the bench fake.

    ``connections`` is passed as ``--worker-connections`` (the command line overrides the config
    file), since gunicorn.conf.py fixes it at 1000 per worker. ``root`` is the tree served (a
    baseline's scratch copy, bench/baseline.py).
    """
    port = free_port()
    log = log_dir / f"gunicorn-{workers}w-{connections}c-{port}.log"
    environ = dict(os.environ) | {
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "QWENFREE_UPSTREAM_URL": fake.url,
        "QWENFREE_CHAT_TTL": "-1",
        "QWENFREE_GRACEFUL_TIMEOUT": "3",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    command += ["--worker-connections", str(connections), app]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=root, env=environ | env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_listening(port, proc)
        deadline = time.monotonic() + 30
        while len(children(proc.pid)) < workers and time.monotonic() < deadline:
            gevent.sleep(0.05)
        yield Gateway(proc, port, children(proc.pid), log)
    finally:
        _stop(proc, signal.SIGINT)  # quick shutdown: nothing is left to finish
