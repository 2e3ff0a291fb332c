"""The soak (soak/README.md) at 20 seconds: mixed traffic and faults through gunicorn leave no
unexpected outcome, no open upstream stream, and flat file descriptors and memory.

Deselect with ``-m "not soak"``; the full run is ``python -m soak --minutes 10``.
"""

from __future__ import annotations

import pytest

from soak.__main__ import summary, verdict
from soak.runner import run
from soak.traffic import CASES


@pytest.mark.soak
def test_a_twenty_second_soak_passes(tmp_path):
    report = run(20, concurrency=6, seed=7, log_dir=tmp_path)
    print(summary(report))
    assert verdict(report) == [], summary(report)
    assert set(report.by_case) == {c.name for c in CASES}  # every case ran at least once
    assert report.requests > 200
