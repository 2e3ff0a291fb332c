"""``python -m bench --results`` (``make bench-results``): all of RESULTS.md in one command.

1. the full benchmark of this tree (sections 1-5, as ``make bench``);
2. the issue-17 side-by-side table against a baseline gateway: ``--compare URL`` (the original
   project or a peer, already running against the bench fake on ``--fake-port``) or, by
   default, a qwenfree git ref (``--baseline REF``) served from a scratch copy
   (``git archive`` into the temp directory, same ``.venv``): the original project is not on
   every machine, so a qwenfree commit from before the performance work is the honest fallback;
3. cProfile's top 10 of one worker over the sequential run (CPU time, ``time.process_time``),
   the baseline ref's worker and this tree's, so the report shows where the time went before
   and after.
"""

from __future__ import annotations

import marshal
import pstats
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import compare, report
from bench.client import Conn
from bench.load import HOST, paired
from bench.phases import OPENAI, SMOKE, Plan, warm
from bench.procs import ROOT, Fake, bench_fake, gunicorn
from bench.routes import spec
from bench.run import run

Row = dict[str, Any]
# main just before the issue-17 work was merged (the parent of 4dc83fa on main).
BASELINE = "d4f98a6"
TOP = 10

# Imported by gunicorn in place of ``wsgi:app``: profiles the worker from its start to its exit;
# a request to /__bench/mark saves what it counted so far, so the report keeps only what follows.
PROFILED = """\
import atexit, cProfile, marshal, os, time
from wsgi import app as _app
_profile = cProfile.Profile(time.process_time)
def _dump():
    _profile.disable()
    _profile.dump_stats(os.environ["BENCH_PROFILE"])
def app(environ, start_response):
    if environ.get("PATH_INFO") != "/__bench/mark":
        return _app(environ, start_response)
    _profile.disable()
    _profile.snapshot_stats()
    with open(os.environ["BENCH_PROFILE"] + ".mark", "wb") as f:
        marshal.dump(_profile.stats, f)
    _profile.enable()
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]
atexit.register(_dump)
_profile.enable()
"""


def scratch(ref: str) -> Path:
    """A copy of ``ref``'s tree under the temp directory (kept: reruns reuse it)."""
    sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    path = Path(tempfile.gettempdir()) / f"qwenfree-bench-{sha[:12]}"
    if not (path / "wsgi.py").exists():
        path.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", sha], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(path)], input=archive, check=True)
    return path


def profile(fake: Fake, root: Path, out_dir: Path, plan: Plan, label: str) -> Row:
    """One worker of ``root`` under cProfile while it serves the sequential pairs."""
    hook = out_dir / "profiled"
    hook.mkdir(parents=True, exist_ok=True)
    (hook / "bench_profiled.py").write_text(PROFILED)
    dump = out_dir / f"profile-{label}.prof"
    mark = Path(f"{dump}.mark")
    dump.unlink(missing_ok=True)
    mark.unlink(missing_ok=True)
    env = {"PYTHONPATH": str(hook), "BENCH_PROFILE": str(dump), "QWENFREE_WARM_CHATS": "0"}
    with gunicorn(fake, out_dir, app="bench_profiled:app", root=root, **env) as gw:
        warm(gw)
        with Conn(HOST, gw.port) as conn:
            conn.request("GET", "/__bench/mark", {})
        n = max(1, plan.seq_pairs // 2)  # enough for the shares; keeps the run within 10 min
        pairs, _ = paired(fake.port, gw.port, OPENAI, spec(plan.answer_n), n, 1, 0)
    deadline = time.monotonic() + 10
    while not dump.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not dump.exists() or not mark.exists():
        return {"label": label, "missing": "the worker wrote no profile"}
    after = pstats.Stats(str(dump)).stats  # type: ignore[attr-defined]
    before = marshal.loads(mark.read_bytes())
    rows = []
    for key, (_, calls, own, cumulative, _) in after.items():
        _, calls0, own0, cumulative0, _ = before.get(key, (0, 0, 0.0, 0.0, {}))
        rows.append((key, calls - calls0, own - own0, cumulative - cumulative0))
    rows.sort(key=lambda row: row[2], reverse=True)
    return {
        "label": label,
        "total_s": sum(row[2] for row in rows),
        "requests": len(pairs),
        "top": [
            {"function": _name(key), "calls": calls, "tottime": own, "cumtime": cumulative}
            for key, calls, own, cumulative in rows[:TOP]
        ],
    }


def _name(key: tuple[str, int, str]) -> str:
    path, line, function = key
    if path == "~":
        return function
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif re.search(r"/python3\.\d+/", path):
        path = re.split(r"/python3\.\d+/", path, maxsplit=1)[1]
    else:
        path = (
            Path(path).name
            if "/qwenfree/" not in path
            else "qwenfree/" + path.split("/qwenfree/")[-1]
        )
    return f"{path}:{line}({function})"


def results(out_dir: Path, *, ref: str, url: str, fake_port: int, pid: int, smoke: bool) -> str:
    """Run everything; return RESULTS.md's text."""
    plan = SMOKE if smoke else Plan()
    side_plan = compare.SMOKE if smoke else compare.COMPARE
    data = run(plan, out_dir)
    tree = scratch(ref)
    label = url or f"qwenfree {ref} ({_git('rev-parse', '--short', ref)})"
    with bench_fake(out_dir, fake_port) as fake:
        if url:
            peer = compare.peer_of(url, pid)
            compare.wait_for(peer, 5 if smoke else 300)
            with gunicorn(fake, out_dir, connections=2000) as ours:
                side = compare.measure(fake, ours, peer, side_plan, 2)
        else:
            with (
                gunicorn(fake, out_dir, connections=2000) as ours,
                gunicorn(fake, out_dir, connections=2000, root=tree) as other,
            ):
                side = compare.measure(fake, ours, other, side_plan, 2)
        before = profile(fake, tree, out_dir, plan, "baseline")
        after = profile(fake, ROOT, out_dir, plan, "this-tree")
    side |= {"url": label, "rounds": 2, "plan": side_plan, "heading": "## 6."}
    text = report.render(data, smoke=smoke).replace(
        "Generated by `make bench` (`python -m bench`)",
        "Generated by `make bench-results` (`python -m bench --results`)",
    )
    return "\n".join([text, compare.render(side), profiles(before, after, label)])


def profiles(before: Row, after: Row, label: str) -> str:
    lines = [
        "## 7. Profile: one worker over the sequential run, before and after",
        "",
        "cProfile (CPU time, `time.process_time`) of the only worker while it served the "
        f"sequential OpenAI stream pairs (after a warm-up); *before* is {label}, *after* this "
        "tree. Top 10 by own time; *µs/request* is that time over the requests served. The "
        "profiler itself multiplies the CPU per request (compare the two, not with section 1).",
        "",
    ]
    for side, title in ((before, "before"), (after, "after")):
        if "missing" in side:
            lines += [f"**{title}**: {side['missing']}", ""]
            continue
        per = 1e6 / max(1, side["requests"])
        lines += [
            f"**{title}**: {side['total_s'] * per:,.0f} µs of worker CPU per request "
            f"({side['requests']} requests)",
            "",
            report.table(
                ["function", "calls", "own µs/request", "share", "cumulative µs/request"],
                [
                    [
                        f"`{r['function']}`",
                        f"{r['calls']:,}",
                        report.num(r["tottime"] * per, 1),
                        f"{100 * r['tottime'] / side['total_s']:.1f} %",
                        report.num(r["cumtime"] * per, 1),
                    ]
                    for r in side["top"]
                ],
            ),
            "",
        ]
    return "\n".join(lines)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()
