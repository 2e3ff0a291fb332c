"""The fake chat.qwen.ai with two extra, paced answers for the container checks (.ci/container.sh).

The fake's default answers arrive at once, but the checks need a stream that is still open
while something happens to it (a SIGTERM, nginx in the middle). The answer is picked by the
prompt, so each check asks for what it needs and nothing depends on request order:

* ``ci:slow``  -> PIECES pieces "p0 " .. "p29 ", DELAY s apart (about 3 s in all);
* ``ci:stall`` -> "first ", then silence for STALL s, then "last". A client that gets "first"
  while the upstream is still silent proves nothing on the way buffers the stream.
* anything else -> the fake's usual default answer.

Runs inside the qwenfree image, which ships tests/fake_upstream.py (stdlib only):
``python ci/slow_fake.py --host 0.0.0.0 --port 9100`` with this file mounted at /app/ci/.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

# /app/ci/slow_fake.py -> /app/tests (the image), .ci/slow_fake.py -> tests (a checkout)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import fake_upstream as fu  # noqa: E402

PIECES = [f"p{i} " for i in range(30)]
DELAY = 0.1
STALL = 120.0


class SlowFake(fu.FakeUpstream):
    """The fake upstream, answering the ``ci:*`` prompts with paced streams."""

    def _default_reply(self, msg: dict[str, Any]) -> fu.Script:
        prompt = msg.get("content")
        if prompt == "ci:slow":
            return fu.answer("".join(PIECES), pieces=PIECES, delay=DELAY)
        if prompt == "ci:stall":
            return fu.stall_after(["first "], seconds=STALL, rest=["last"])
        return super()._default_reply(msg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    fake = SlowFake(args.host, args.port).start()
    stop = threading.Event()
    # As PID 1 in a container, a signal without a handler is ignored: stop would take the
    # whole grace period and end in SIGKILL.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"slow fake chat.qwen.ai listening on {fake.url}", flush=True)
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
