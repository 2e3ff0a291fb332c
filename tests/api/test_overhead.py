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
