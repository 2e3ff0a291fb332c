"""No token, password or key ever reaches the logs.

The real server (gunicorn, DEBUG log level) gets traffic carrying known secrets through all
three dialects, successes and failures alike (rejected tokens, quotas, anti-bot pages, broken
streams, malformed bodies, unknown routes with ``?key=``), then everything it wrote to stdout
and stderr (its JSON logs included) is searched for every secret and every part of one that
would identify it. The fake upstream's records prove each secret really was in play.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import requests

from qwenfree.settings import Settings
from tests import fake_upstream as fu
from tests.support.models import MODEL
from tests.support.served import Served

ROOT = Path(__file__).resolve().parents[2]
JWT = fu.mint_token("user-secret-pair")
OPAQUE = "opaque-upstream-token-Zq8r2LmN5vX1"
CALLER_KEY = "sk-caller-key-Hs83kdPq01Lm"
WRONG_KEY = "sk-wrong-guess-Ux72bbNq55Ty"
ADMIN_KEY = "sk-admin-key-Pp09wqMz44Rt"
EMAIL, PASSWORD = "secret.person@example.com", "pw-Very-Secret-42!"
HAS_ACCOUNTS = "api_keys" in {f.name for f in fields(Settings)}


def stop_and_read(server: Served) -> str:
    """SIGTERM the server (its shutdown logs count too); return all it wrote."""
    server.stop(30)
    return server.output()


@pytest.fixture
def debug_server(gunicorn, tmp_path) -> Callable[..., Served]:
    """``server(**env)``: gunicorn at DEBUG level, deleting its chats (those log too)."""

    def start(**extra: str) -> Served:
        env = {
            "QWENFREE_CHAT_TTL": "0",  # deletions log too: more lines to search
            "QWENFREE_LOG_LEVEL": "DEBUG",
            "QWENFREE_READ_TIMEOUT": "0.3",
            "QWENFREE_DATA_DIR": str(tmp_path / "data"),
        }
        return gunicorn(**(env | extra))

    return start


# ------------------------------------------------------------------------------ traffic

# Ordered from harmless to benching, so server-held accounts stay usable for most of the run.
FAILURES: list[Callable[[], fu.Script]] = [
    lambda: fu.answer("fine"),
    lambda: fu.drop_after(["Hel", "lo"], partial=True),
    lambda: fu.stall_after(["Hel"], 1.0, ["lo"]),
    lambda: fu.in_stream_error("internal_error", "boom", after=["x"]),
    lambda: fu.waf_html(),
    lambda: fu.rate_limited(1),
    lambda: fu.http_error(401, b'{"detail":"Could not validate credentials"}'),
]


def calls(key: str) -> list[tuple[str, str, dict[str, str], bytes]]:
    """(method, path, headers, body): every dialect, every way of sending the key."""
    chat = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    msgs = json.dumps(
        {
            "model": "claude-opus-4-8",
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "x"}],
        }
    )
    gem = json.dumps({"contents": [{"parts": [{"text": "hi"}]}]})
    model = "/v1beta/models/gemini-2.5-flash"
    out = []
    for stream in (False, True):
        chat_body = json.dumps(json.loads(chat) | {"stream": stream}).encode()
        msgs_body = json.dumps(json.loads(msgs) | {"stream": stream}).encode()
        method = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
        out += [
            ("POST", "/v1/chat/completions", {"Authorization": f"Bearer {key}"}, chat_body),
            ("POST", "/v1/messages", {"x-api-key": key, "anthropic-version": "1"}, msgs_body),
            ("POST", model + method, {"x-goog-api-key": key}, gem.encode()),
            ("POST", f"{model}{method}{'&' if stream else '?'}key={key}", {}, gem.encode()),
        ]
    out += [
        ("POST", "/v1/chat/completions", {"Authorization": f"Bearer {key}"}, b"{not json"),
        ("GET", f"/v1beta/models?key={key}", {}, b""),
        ("GET", f"/no/such/route?key={key}&token={key}", {"Cookie": f"token={key}"}, b""),
        ("GET", "/v1/models", {"Authorization": f"Bearer {key}"}, b""),
    ]
    return out


def drive(url: str, fake, key: Callable[[], str], seen: list[Any], prepare=None) -> list[str]:
    """Send every call once per upstream behaviour, each with a ``key()`` (fresh tokens, so a
    benched one does not hide the next failure path); return the keys used. Any status is
    fine: secrets are the point. What the fake received is appended to ``seen``."""
    used: list[str] = []
    for script in FAILURES:
        for i in range(len(calls(""))):
            used.append(key())
            method, path, headers, body = calls(used[-1])[i]
            fake.enqueue(script())
            headers = headers | {"Content-Type": "application/json"}
            try:
                requests.request(method, url + path, headers=headers, data=body, timeout=15)
            except requests.RequestException:
                pass  # a cut stream is one of the behaviours under test
            seen += fake.requests
            fake.reset()  # drop a script the call did not use (refused before the upstream)
            if prepare is not None:
                prepare(fake)
    return used


# ------------------------------------------------------------------------------ the search


WINDOW = 10  # a masked secret shows 4 characters; any 10 in a row of one is a leak
RUNS = re.compile(rf"[A-Za-z0-9_.!@+/=-]{{{WINDOW},}}")  # what a secret is made of


def windows(text: str) -> set[str]:
    return {text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1)}


def secret_parts(secret: str) -> list[str]:
    """A JWT's payload (it names the user) and signature (the credential); its header is the
    same for every token, so not secret. Anything else whole."""
    return secret.split(".")[1:] if secret.count(".") == 2 else [secret]


def assert_absent(log: str, secrets: list[str]) -> None:
    """No run of WINDOW characters of any secret appears anywhere in ``log``."""
    wanted = {w: s for s in secrets for part in secret_parts(s) for w in windows(part)}
    for run in set(RUNS.findall(log)):
        for w in windows(run) & wanted.keys():
            at = log.find(w)
            pytest.fail(f"part of {wanted[w][:6]}... leaked: {log[max(0, at - 100) : at + 30]!r}")


def test_caller_tokens_never_reach_the_logs(debug_server, fake):
    server, seen, n = debug_server(), [], itertools.count()
    jwts = drive(server.url, fake, lambda: fu.mint_token(f"user-secret-{next(n)}"), seen)
    opaque = drive(server.url, fake, lambda: f"{OPAQUE}{next(n):04d}", seen)
    pairs = drive(server.url, fake, lambda: f"{OPAQUE}{next(n):04d},{JWT}", seen)
    sent = " ".join(r.headers.get("authorization", "") for r in seen)
    # The secrets really went upstream (calls refused earlier, such as bad JSON, do not).
    assert sum(t in sent for t in jwts + opaque) > len(jwts + opaque) / 2
    log = stop_and_read(server)
    for outcome in ("token_rejected", "rate_limited", "upstream_challenged", "upstream_timeout"):
        assert outcome in log  # every failure path ran, and was logged
    assert_absent(log, [JWT, *jwts, *opaque, *(p.split(",")[0] for p in pairs)])


@pytest.mark.skipif(not HAS_ACCOUNTS, reason="server-held accounts and caller keys not present")
def test_keys_accounts_and_passwords_never_reach_the_logs(debug_server, fake):
    def prepare(fake) -> None:
        fake.accounts[EMAIL] = PASSWORD

    prepare(fake)
    server, seen = (
        debug_server(
            QWENFREE_API_KEYS=CALLER_KEY,
            QWENFREE_ADMIN_KEY=ADMIN_KEY,
            QWENFREE_ACCOUNTS=f"{EMAIL}:{PASSWORD},{OPAQUE}",
        ),
        [],
    )
    for key in (CALLER_KEY, WRONG_KEY, ADMIN_KEY):
        drive(server.url, fake, lambda key=key: key, seen, prepare)
    for key in (ADMIN_KEY, CALLER_KEY, WRONG_KEY):
        auth = {"Authorization": f"Bearer {key}"}
        requests.get(server.url + "/admin/api/accounts", headers=auth, timeout=10)
    body = {"email": EMAIL, "password": PASSWORD + "-wrong"}
    admin = {"x-api-key": ADMIN_KEY}
    requests.post(server.url + "/admin/api/accounts", json=body, headers=admin, timeout=10)
    seen += fake.requests
    signins = [r for r in seen if r.path.endswith("/auths/signin")]  # v2 (2026-09) or v1
    assert signins, "the password account never signed in"
    sent = " ".join(r.headers.get("authorization", "") for r in seen)
    assert OPAQUE in sent and CALLER_KEY not in sent  # accounts used; caller keys stay here
    log = stop_and_read(server)
    assert '"logger": "qwenfree.access"' in log
    signed_in = [json.loads(r.body or b"{}").get("password", "") for r in signins]
    minted = _tokens_minted(seen)
    assert_absent(log, [CALLER_KEY, WRONG_KEY, ADMIN_KEY, OPAQUE, PASSWORD, *signed_in, *minted])
    assert EMAIL not in log, "the account's email address reached the logs"


def _tokens_minted(seen: list[Any]) -> list[str]:
    """Tokens the fake handed out at sign-in and refresh (read back from what the gateway then
    sent: access tokens as the bearer, 2026-09 refresh tokens in the cookie)."""
    out = set()
    for r in seen:
        auth = r.headers.get("authorization", "")
        if auth.startswith("Bearer eyJ"):
            out.add(auth[7:])
        out.update(re.findall(r"refresh_token=([^;\s]+)", r.headers.get("cookie", "")))
    return sorted(out)
