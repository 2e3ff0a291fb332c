"""/metrics after real traffic, the overhead header, the access log fields, and several
gunicorn workers sharing one account pool and one set of metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support.accounts import USER, USER_KEY, chat, keyed, tokens, used_tokens
from tests.support.models import MODEL
from tests.support.served import start_gunicorn

ROOT = Path(__file__).resolve().parents[2]
CLIENT = {"Authorization": "Bearer " + TOKEN}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    r = requests.get(url + "/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def test_metrics_count_requests_tokens_latency_and_errors(gateway, fake):
    url = gateway.url
    assert chat(url, headers=CLIENT).status_code == 200
    streamed = chat(url, headers=CLIENT, stream=True)
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    fake.enqueue(fu.http_error(500, b"oops", "text/plain"))
    assert chat(url, headers=CLIENT).status_code == 502
    assert chat(url, headers=CLIENT, model="no-such-model").status_code == 404
    m = scrape(url)
    ok = {"dialect": "openai", "model": MODEL}
    assert total(m, "qwenfree_requests_total", status="200", **ok) == 2
    assert total(m, "qwenfree_requests_total", status="502", **ok) == 1
    assert total(m, "qwenfree_requests_total", status="404") == 1
    assert total(m, "qwenfree_upstream_errors_total", kind="upstream_unavailable") == 1
    assert total(m, "qwenfree_tokens_total", direction="output", **ok) > 0
    assert total(m, "qwenfree_ttfb_seconds_count", stream="true") == 1
    assert total(m, "qwenfree_ttfb_seconds_count", stream="false") == 1
    assert total(m, "qwenfree_proxy_overhead_seconds_count") == 4
    assert total(m, "qwenfree_upstream_seconds_count", call="completion_open") == 3
    assert total(m, "qwenfree_upstream_seconds_count", call="completion_first_event") == 2
    assert total(m, "qwenfree_upstream_seconds_count", call="new_chat") == 3
    assert total(m, "qwenfree_active_streams") == 0  # the stream ended
    assert total(m, "qwenfree_accounts") == 0  # client-token mode holds no accounts


def test_the_active_stream_gauge_and_disconnects(gateway, fake):
    fake.enqueue(fu.infinite(delay=0.05, max_seconds=10))
    held = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True},
        headers=CLIENT,
        stream=True,
    )
    lines = held.iter_lines()
    assert next(lines)
    assert total(scrape(gateway.url), "qwenfree_active_streams") == 1
    held.close()
    assert fake.wait_until(lambda: total(scrape(gateway.url), "qwenfree_active_streams") == 0)
    assert total(scrape(gateway.url), "qwenfree_client_disconnects_total") == 1


def test_overhead_header_on_plain_and_streamed_answers(gateway, fake):
    fake.enqueue(fu.slow_first_byte(0.3), fu.slow_first_byte(0.3))
    for stream in (False, True):
        r = chat(gateway.url, headers=CLIENT, stream=stream)
        assert r.status_code == 200
        overhead = float(r.headers["x-qwenfree-overhead-ms"])
        # The upstream took 300 ms before its first byte; none of that is ours.
        assert 0 <= overhead < 300
    assert "x-qwenfree-overhead-ms" not in requests.get(gateway.url + "/healthz").headers


def test_access_log_names_model_account_and_ttfb_but_no_secret(gateway, fake, capfd):
    assert chat(gateway.url, headers=CLIENT).status_code == 200
    _, err = capfd.readouterr()
    line = next(json.loads(x) for x in err.splitlines() if '"qwenfree.access"' in x)
    assert line["model"] == MODEL and line["account"] == "…" + TOKEN[-4:]
    assert line["ttfb_ms"] > 0 and line["overhead_ms"] >= 0
    assert TOKEN not in err


ASK = [{"role": "user", "content": "x"}]
SERVICE_VIEWS = {
    "anthropic": ("/v1/messages", {"model": MODEL, "max_tokens": 9, "messages": ASK}),
    "gemini": (
        f"/v1beta/models/{MODEL}:generateContent",
        {"contents": [{"parts": [{"text": "x"}]}]},
    ),
    "images": ("/v1/images/generations", {"model": "dall-e-3", "prompt": "a fox"}),
}


@pytest.mark.parametrize("view", sorted(SERVICE_VIEWS))
def test_every_view_hands_its_meter_to_the_service(gateway, fake, capfd, view):
    """The service notes the model and the account on the meter the view passes in: a view
    that passed none would leave both out of the access log and /metrics."""
    path, body = SERVICE_VIEWS[view]
    if view == "images":
        fake.enqueue(fu.answer("", image_url="https://cdn.example/output/t2i/1.png?key=k"))
    headers = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01", **CLIENT}
    assert requests.post(gateway.url + path, json=body, headers=headers).status_code == 200
    _, err = capfd.readouterr()
    line = next(json.loads(x) for x in err.splitlines() if '"qwenfree.access"' in x)
    assert line["path"] == path and line["model"] and line["account"] == "…" + TOKEN[-4:]


def test_server_mode_metrics_show_account_states_and_refreshes(
    start_gateway, settings, tmp_path, fake
):
    a, b = tokens(2)
    s = keyed(settings, tmp_path / "data", accounts=f"{a},{b},demo@example.com:demo-password")
    gateway = start_gateway(s)
    fake.enqueue_for(a, fu.http_error(401))
    for _ in range(3):
        assert chat(gateway.url).status_code == 200
    m = scrape(gateway.url)
    assert total(m, "qwenfree_accounts", state="dead") == 1
    assert total(m, "qwenfree_accounts", state="ready") == 2
    assert total(m, "qwenfree_token_refresh_total", result="ok") == 1
    text = requests.get(gateway.url + "/metrics").text
    for secret in (a, b, USER_KEY, "demo@example.com", "demo-password"):
        assert secret not in text


@pytest.fixture
def workers(fake, tmp_path):
    """gunicorn with two workers, server-held accounts on one SQLite file, multiprocess
    metrics; yields (url, accounts)."""
    accounts = tokens(2)
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"stale")  # an earlier run's leftovers
    env = {
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "QWENFREE_UPSTREAM_URL": fake.url,
        "QWENFREE_CHAT_TTL": "-1",
        "QWENFREE_API_KEYS": USER_KEY,
        "QWENFREE_ACCOUNTS": ",".join(accounts),
        "QWENFREE_DATA_DIR": str(tmp_path / "data"),
        "QWENFREE_GRACEFUL_TIMEOUT": "5",
    }
    served = start_gunicorn(env, tmp_path / "gunicorn.log", ready="/readyz")
    try:
        yield served.url, accounts, metrics_dir
    finally:
        served.stop(15)
        output = served.output()
        assert "Traceback" not in output and "MonkeyPatchWarning" not in output, output


def served_by(metrics_dir: Path) -> dict[str, float]:
    """Requests answered per worker pid, read from each worker's own multiprocess file."""
    out = {}
    for path in metrics_dir.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)])
        samples = [s for f in families for s in f.samples if s.name == "qwenfree_requests_total"]
        out[path.stem.rsplit("_", 1)[-1]] = sum(s.value for s in samples)
    return out


def test_two_gunicorn_workers_share_the_pool_and_the_metrics(workers, fake):
    url, (a, b), metrics_dir = workers
    assert not (metrics_dir / "counter_99999.db").exists()  # wiped at start
    fake.enqueue_for(a, fu.rate_limited(4))
    sent = 0
    # Which worker accepts a connection is up to the kernel: go on (a new connection each
    # time) until both have answered at least twice.
    while sent < 10 or len(counts := served_by(metrics_dir)) < 2 or min(counts.values()) < 2:
        r = requests.post(
            url + "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
            headers={**USER, "Connection": "close"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        sent += 1
        assert sent < 200, f"one worker answered everything: {served_by(metrics_dir)}"
    assert len(served_by(metrics_dir)) == 2
    assert used_tokens(fake).count(a) == 1  # benched in the shared file, for both workers
    for _ in range(4):  # whichever worker answers the scrape, the sums are the same
        m = scrape(url)
        assert total(m, "qwenfree_requests_total", status="200") == sent
        assert total(m, "qwenfree_accounts", state="cooling") == 1
        assert total(m, "qwenfree_upstream_errors_total", kind="rate_limited") == 1
