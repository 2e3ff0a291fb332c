"""The benchmark harness still runs end to end (``make bench-smoke``): tiny sizes, no thresholds.

It starts the bench fake and real gunicorn processes, so it also proves the harness and the
served app agree on every route the report covers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = (
    "## Machine and conditions",
    "## Summary",
    "## 1. Overhead",
    "## 2. Capacity",
    "## 3. Relay cost",
    "## 4. Scaling",
    "## 5. Warm chats",
)


@pytest.mark.timeout(150)  # five gunicorn starts: slow on a busy CI machine
def test_smoke_run_writes_the_report(tmp_path):
    report = tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(report), "--logs", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=140,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = report.read_text()
    for heading in SECTIONS:
        assert heading in text
    data = json.loads((tmp_path / "results-smoke.json").read_text())

    openai = data["overhead"][0]
    assert openai["route"] == "OpenAI stream" and "missing" not in openai
    assert openai["seq"]["pairs"] > 0 and openai["seq"]["failures"] == 0
    assert [row["count"] for row in data["capacity"]] == [20]
    assert data["capacity"][0]["gateway"]["failures"] == 0
    relayed = {row["route"]: row for row in data["relay"]}
    assert relayed["OpenAI stream"]["failures"] == 0
    assert relayed["OpenAI stream"]["events_per_s"] > 0
    assert data["scaling"]["relay"]["failures"] == 0
    assert data["pool"]["gateway_n"] > 0
