"""``python -m bench [--smoke] [--out FILE] [--compare URL] [--results [--baseline REF]]``: run
the benchmarks, write the markdown report; with ``--compare``, the side-by-side table against
another gateway instead; with ``--results``, all of RESULTS.md (the benchmark, the side-by-side
table against ``--compare URL`` or a qwenfree git ref, the profile before/after)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench import report
from bench.phases import SMOKE, Plan
from bench.procs import ROOT
from bench.run import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny run that checks the harness")
    parser.add_argument("--out", type=Path, help="markdown report (default: bench/RESULTS.md)")
    parser.add_argument("--logs", type=Path, default=ROOT / "bench" / "out", help="logs, raw data")
    parser.add_argument("--compare", metavar="URL", help="another OpenAI-compatible gateway")
    parser.add_argument("--compare-pid", type=int, default=0, help="its process, for RSS")
    parser.add_argument("--fake-port", type=int, default=9200, help="the bench fake's port")
    parser.add_argument("--rounds", type=int, default=2, help="alternating overhead rounds")
    parser.add_argument("--results", action="store_true", help="all of RESULTS.md, one run")
    parser.add_argument("--baseline", metavar="REF", help="git ref served as the baseline")
    args = parser.parse_args()
    if args.results:
        from bench import baseline

        text = baseline.results(
            args.logs,
            ref=args.baseline or baseline.BASELINE,
            url=args.compare or "",
            fake_port=args.fake_port,
            pid=args.compare_pid,
            smoke=args.smoke,
        )
        out = args.out or (
            args.logs / "RESULTS-smoke.md" if args.smoke else ROOT / "bench/RESULTS.md"
        )
        out.write_text(text)
        print(f"wrote {out}")
        return
    if args.compare:
        from bench import compare

        found = compare.run(
            args.compare,
            args.logs,
            fake_port=args.fake_port,
            pid=args.compare_pid,
            rounds=args.rounds,
            smoke=args.smoke,
        )
        table = compare.render(found)
        (args.out or args.logs / "compare.md").write_text(table)
        print(table)
        return
    plan = SMOKE if args.smoke else Plan()
    default = "RESULTS-smoke.md" if args.smoke else "RESULTS.md"
    out = args.out or (args.logs / default if args.smoke else ROOT / "bench" / default)
    data = run(plan, args.logs)
    (args.logs / ("results-smoke.json" if args.smoke else "results.json")).write_text(
        json.dumps(data, indent=2, default=str)
    )
    out.write_text(report.render(data, smoke=args.smoke))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
