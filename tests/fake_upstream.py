"""A fake chat.qwen.ai: a real HTTP server on loopback that speaks the web chat's protocol.

The code lives in the package tests/fake/ (what each mode enforces: tests/fake/README.md); this
module re-exports it, so ``from tests.fake_upstream import FakeUpstream, answer, ...`` and
``from tests import fake_upstream as fu`` keep working. Standard library only. Two uses:

* tests: ``with FakeUpstream() as fake: fake.enqueue(answer("Hi")); ...`` then point the gateway at
  ``fake.url`` and assert on ``fake.requests`` / ``fake.completions()``. Each completion pops one
  queued ``Script`` (frames, delays, raw byte cuts, stalls, drops, error bodies); an empty queue
  gives a default reply. It speaks the site as it is since September 2026 (header gate, real
  status in ``x-actual-status-code``, 15-minute tokens, v2 sign-in...); ``fake.mode = "legacy"``
  switches to the mid-2026 site.
* trying the gateway offline: ``python tests/fake_upstream.py --port 9100 [--mode legacy]``
  serves default replies (sign in as demo@example.com / demo-password, or send any bearer token
  not starting with "bad" or "expired"; a JWT-shaped one must be signed by the fake).
"""

from __future__ import annotations

import argparse
import threading

try:
    from tests.fake import *  # noqa: F403
    from tests.fake import FakeUpstream, site
except ModuleNotFoundError as exc:  # run as a script: tests/ itself is on sys.path
    if exc.name not in ("tests", "tests.fake"):
        raise
    from fake import *  # type: ignore[no-redef]  # noqa: F403
    from fake import FakeUpstream, site  # type: ignore[no-redef]


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake chat.qwen.ai for trying qwenfree offline.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument(
        "--mode", choices=site.MODES, default=site.DEFAULT_MODE,
        help="the site's dialect: legacy (mid-2026) or 2026-09 (header gate, refresh tokens...)",
    )  # fmt: skip
    args = parser.parse_args()
    fake = FakeUpstream(args.host, args.port, mode=args.mode).start()
    print(f"fake chat.qwen.ai ({args.mode}) listening on {fake.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
