"""gunicorn.conf.py's defaults use the machine: one worker per usable core, and with several
workers a metrics directory so /metrics adds them up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READ = (
    "import json, runpy, os; g = runpy.run_path('gunicorn.conf.py');"
    "print(json.dumps([g['workers'], g['_metrics_dir'], g['_cores']()]))"
)


def conf(**env: str) -> list:
    clean = {k: v for k, v in os.environ.items() if k not in ("WEB_CONCURRENCY",)}
    clean.pop("PROMETHEUS_MULTIPROC_DIR", None)
    out = subprocess.run(
        [sys.executable, "-c", READ], cwd=ROOT, env=clean | env, capture_output=True, check=True
    )
    return json.loads(out.stdout)


def test_one_worker_per_usable_core_by_default(tmp_path):
    workers, metrics_dir, cores = conf(TMPDIR=str(tmp_path))
    assert workers == cores and 1 <= cores <= len(os.sched_getaffinity(0))  # a quota may cap
    if workers > 1:
        assert metrics_dir.startswith(str(tmp_path)) and os.path.isdir(metrics_dir)
    else:
        assert metrics_dir == ""


def test_web_concurrency_still_decides(tmp_path):
    assert conf(WEB_CONCURRENCY="1", TMPDIR=str(tmp_path))[:2] == [1, ""]
    workers, metrics_dir, _ = conf(WEB_CONCURRENCY="3", TMPDIR=str(tmp_path))
    assert workers == 3 and metrics_dir.startswith(str(tmp_path))
    given = str(tmp_path / "given")
    assert conf(WEB_CONCURRENCY="3", PROMETHEUS_MULTIPROC_DIR=given)[1] == given
