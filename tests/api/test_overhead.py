"""The ``x-qwenfree-overhead-ms`` header counts only what we add: time spent on the wire to the
upstream (sending, waiting for its bytes) is not ours, our own work around it is."""

from __future__ import annotations

import requests

from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support.accounts import chat

CLIENT = {"Authorization": "Bearer " + TOKEN}
DELAY = 0.4


def test_upstream_delays_are_not_overhead_and_the_rest_is_what_the_client_saw(gateway, fake):
    fake.enqueue(fu.slow_first_byte(DELAY), fu.slow_first_byte(DELAY))
    for stream in (False, True):
        r = chat(gateway.url, headers=CLIENT, stream=stream)
        assert r.status_code == 200
        overhead = float(r.headers["x-qwenfree-overhead-ms"])
        seen_ms = r.elapsed.total_seconds() * 1000  # the client's wait for our headers
        # The server's interval lies inside the client's, and the upstream's delay inside the
        # server's wire time: what is left for us is at most what the client saw minus it.
        assert 0 <= overhead <= seen_ms - DELAY * 1000 + 1


def test_a_silent_upstream_mid_answer_is_not_overhead(gateway, fake):
    fake.enqueue(fu.stall_after(["a", "b"], DELAY, ["c"]))
    r = chat(gateway.url, headers=CLIENT)
    assert r.status_code == 200 and r.elapsed.total_seconds() >= DELAY
    assert float(r.headers["x-qwenfree-overhead-ms"]) < DELAY * 1000
    assert "x-qwenfree-overhead-ms" not in requests.get(gateway.url + "/healthz").headers


IGNORED_FRAMES = 40_000  # frames the parser reads and drops: our CPU inside the client


def test_our_work_inside_the_upstream_client_is_overhead(gateway, fake):
    """Decoding and parsing the upstream's frames is our work even though it runs inside the
    upstream client: a header that subtracted all time spent in the client would hide it. The
    fake sends tens of thousands of frames the parser drops, in one write (so reading them is
    quick on the wire and parsing them is slow), behind a known delay."""
    script = fu.slow_first_byte(DELAY)
    script.steps = [
        script.steps[0],
        fu.Raw(b'data: {"response.created":{}}\n\n' * IGNORED_FRAMES),
        *script.steps[1:],
    ]
    fake.enqueue(script)
    r = chat(gateway.url, headers=CLIENT)
    assert r.status_code == 200, r.text
    overhead = float(r.headers["x-qwenfree-overhead-ms"])
    ours_ms = r.elapsed.total_seconds() * 1000 - DELAY * 1000  # everything but the fake's delay
    # Parsing is most of ``ours``: the header must show most of it, not the few ms around it.
    assert ours_ms * 0.5 <= overhead <= ours_ms + 1, (overhead, ours_ms)
