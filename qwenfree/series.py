"""Per-minute counters of the last day, for the admin dashboard's charts (``/admin/api/series``).

A ring of ``MINUTES`` slots kept in the state store's usage counters (subject
``series:<slot>``), so every gunicorn worker adds to the same minutes and they survive a
restart; the ring keeps the store's size fixed. Each slot carries the minute it holds (mark
``minute``); the first request of a new minute in a worker zeroes the slot's counters from a
day ago. Two workers starting the same minute at the same instant may lose a few counts of it:
a dashboard can live with that, a bill could not (per-key usage stays in its own counters).

Counted per minute, from where requests finish (:meth:`qwenfree.ops.Ops.finish`):
``req:<dialect>``, ``err:<kind>``, ``ttfb:<bucket>``, ``tok:in`` / ``tok:out``; and the
account states as last seen that minute (marks ``acct:<state>``). Nothing here knows Flask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from qwenfree.meter import Meter
from qwenfree.store import Counters, Store

MINUTES = 24 * 60
PREFIX = "series:"
# Upper bounds (seconds) of the time-to-first-byte buckets; the last one catches the rest.
TTFB_BOUNDS = (0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, float("inf"))


class Series:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.time,
        states: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.states = states  # account counts by state, sampled once a minute per worker
        self._claimed = -1  # the last minute this worker made its own
        self._lock = threading.Lock()

    def record(self, m: Meter, fields: dict[str, Any]) -> None:
        """Count one finished API request in its minute."""
        minute = self._minute()
        add: dict[str, float] = {f"req:{m.dialect or 'other'}": 1}
        if kind := error_kind(m, fields):
            add[f"err:{kind}"] = 1
        if (ttfb := m.ttfb()) is not None:
            add[f"ttfb:{bucket(ttfb)}"] = 1
        if m.input_tokens or m.output_tokens:
            add |= {"tok:in": m.input_tokens, "tok:out": m.output_tokens}
        self.store.bump(_subject(minute), add, {})

    def sample_states(self) -> None:
        """Note the account states now (the dashboard calls this as it polls)."""
        minute = self._minute()
        if self.states is not None:
            marks = {f"acct:{k}": v for k, v in self.states().items()}
            self.store.bump(_subject(minute), {}, marks)

    def read(self, minutes: int) -> dict[str, Any]:
        """The last ``minutes`` minutes, oldest first: one list per counter, 0 where none."""
        minutes = max(1, min(minutes, MINUTES))
        now = int(self.clock() // 60)
        first = now - minutes + 1
        slots = self.store.usage(PREFIX)
        rows: list[Counters] = [{} for _ in range(minutes)]
        for slot, counters in slots.items():
            held = int(float(counters.get("minute", -1) or -1))
            if slot.isdigit() and first <= held <= now:
                rows[held - first] = counters
        names = sorted({k for row in rows for k in row if k != "minute"})
        series: dict[str, list[Any]] = {n: [_number(row.get(n)) for row in rows] for n in names}
        for q in (50, 95):
            series[f"ttfb_p{q}"] = [quantile(row, q / 100) for row in rows]
        return {
            "start": time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(first * 60)),
            "minutes": minutes,
            "ttfb_bounds": [b if b != float("inf") else None for b in TTFB_BOUNDS],
            "series": series,
        }

    def _minute(self) -> int:
        """This minute, after zeroing its slot if it still holds a minute from a day ago."""
        minute = int(self.clock() // 60)
        with self._lock:
            if minute == self._claimed:
                return minute
            self._claimed = minute
        held = self.store.usage(_subject(minute)).get("", {})
        if int(float(held.get("minute", -1) or -1)) != minute:
            stale = {k: 0 for k in held if k != "minute"}
            self.store.bump(_subject(minute), {}, stale | {"minute": minute})
            if self.states is not None:
                self.sample_states()
        return minute


def error_kind(m: Meter, fields: dict[str, Any]) -> str | None:
    """Why a request failed, in a few words fit for a chart label; None when it did not."""
    status = int(fields.get("status") or 0)
    outcome = fields.get("outcome")
    if status < 400 and outcome in (None, "ok", "client_disconnected"):
        return None
    if m.upstream_errors:
        return str(m.upstream_errors[-1])
    return f"http_{status}" if status >= 400 else str(outcome)


def quantile(row: Counters, q: float) -> float | None:
    """The upper bound of the TTFB bucket holding quantile ``q`` of a minute (None: no data).
    The open last bucket reports its lower bound."""
    counts = [_number(row.get(f"ttfb:{i}")) for i in range(len(TTFB_BOUNDS))]
    total = sum(counts)
    if not total:
        return None
    seen = 0.0
    for i, n in enumerate(counts):
        seen += n
        if seen >= q * total:
            return TTFB_BOUNDS[i] if i < len(TTFB_BOUNDS) - 1 else TTFB_BOUNDS[-2]
    return TTFB_BOUNDS[-2]


def bucket(seconds: float) -> int:
    return next(i for i, bound in enumerate(TTFB_BOUNDS) if seconds <= bound)


def _subject(minute: int) -> str:
    return f"{PREFIX}{minute % MINUTES}"


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
