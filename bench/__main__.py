"""``python -m bench [--smoke] [--out FILE]``: run the benchmarks, write the markdown report."""

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
    args = parser.parse_args()
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
