"""`python -m soak --minutes 10`: run the soak and print its figures; exit 1 if it failed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from soak.runner import Report, run

MAX_RSS_GROWTH_KIB = 16 * 1024  # or 10 % of the baseline, whichever is larger
MAX_FD_GROWTH = 8


def verdict(report: Report) -> list[str]:
    """The soak's failures ([] = it passed)."""
    problems = []
    if report.unexpected:
        problems.append(f"{len(report.unexpected)} unexpected outcomes")
    if report.server_errors:
        problems.append(f"{len(report.server_errors)} tracebacks in the gateway's log")
    if report.upstream_open_at_end:
        problems.append(f"{report.upstream_open_at_end} upstream streams still open at the end")
    allowed = max(MAX_RSS_GROWTH_KIB, report.baseline().rss_kib // 10)
    if report.rss_growth_kib > allowed:
        problems.append(f"RSS grew {report.rss_growth_kib} KiB after warm-up (> {allowed})")
    if report.fd_growth > MAX_FD_GROWTH:
        problems.append(f"open file descriptors grew by {report.fd_growth}")
    return problems


def summary(report: Report) -> str:
    base, last = report.baseline(), report.samples[-1]
    peak = max(s.rss_kib for s in report.samples)
    lines = [
        f"soak: {report.requests} requests in {report.seconds:.0f} s "
        f"({report.requests / report.seconds:.1f}/s), {len(report.unexpected)} unexpected",
        f"  RSS (KiB): start {report.samples[0].rss_kib}, after warm-up {base.rss_kib}, "
        f"end {last.rss_kib}, peak {peak}; growth after warm-up {report.rss_growth_kib}",
        f"  open fds: start {report.samples[0].fds}, after warm-up {base.fds}, end {last.fds}",
        f"  upstream streams open at the end: {report.upstream_open_at_end}",
        "  cases: " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_case.items())),
    ]
    for o in report.unexpected[:20]:
        lines.append(f"  UNEXPECTED {o.case} {o.dialect} stream={o.stream}: {o.detail[:160]}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="how long to run (default 10)")
    length.add_argument("--seconds", type=float, help="how long to run, in seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="traffic mix seed (default 1)")
    parser.add_argument("--samples", type=Path, help="write the RSS/fd samples here (CSV)")
    args = parser.parse_args()
    seconds = args.seconds or (args.minutes or 10.0) * 60
    report = run(seconds, args.concurrency, args.seed)
    print(summary(report))
    if args.samples:
        rows = [f"{s.t},{s.rss_kib},{s.fds}" for s in report.samples]
        args.samples.write_text("seconds,rss_kib,fds\n" + "\n".join(rows) + "\n")
    problems = verdict(report)
    print("soak: " + ("FAILED: " + "; ".join(problems) if problems else "ok"))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
