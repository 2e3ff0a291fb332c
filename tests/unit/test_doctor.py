"""``make doctor`` (qwenfree/doctor.py): every verdict from the fake scenario that causes it, in
both of the fake's modes; the exit code; no secret in the report; the admin endpoint."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from qwenfree import doctor
from tests import fake_tongyi as ft
from tests import fake_upstream as fu
from tests.fake.auth import cookies_of
from tests.support.accounts import ADMIN, USER_KEY, keyed, tokens

MODES = (fu.LEGACY, fu.SEP_2026)
STEPS = [
    "credential form",
    "credential check",
    "model list",
    "create chat",
    "completion (stream)",
    "delete chat",
    "upload credential (STS)",
    "image (t2i)",
]
KEYS = {"step", "endpoint", "http_status", "actual_status", "code", "details", "ms", "verdict"}


@pytest.fixture(params=MODES)
def site(request: pytest.FixtureRequest, fake: fu.FakeUpstream) -> fu.FakeUpstream:
    fake.mode = request.param
    return fake


@pytest.fixture
def env(fake: fu.FakeUpstream, tmp_path: Any) -> dict[str, str]:
    return {
        "QWENFREE_UPSTREAM_URL": fake.url,
        "QWENFREE_AUTH_URL": fake.url,
        "QWENFREE_DATA_DIR": str(tmp_path / "state"),
        "QWENFREE_CONNECT_TIMEOUT": "2",
        "QWENFREE_READ_TIMEOUT": "2",
    }


Run = Callable[..., tuple[int, Any]]


@pytest.fixture
def run(env: dict[str, str]) -> Run:
    """``run(*argv, token=..., **env)`` -> (exit code, the JSON report or the text)."""

    def go(*argv: str, token: str | None = None, **extra: str) -> tuple[int, Any]:
        out = io.StringIO()
        environ = env | extra | ({"QWEN_TOKEN": token} if token is not None else {})
        code = doctor.main(list(argv), environ, out)
        value = out.getvalue()
        return code, json.loads(value) if "--json" in argv else value

    return go


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    return {s["step"]: s["verdict"] for s in report["steps"]}


def step(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["steps"] if s["step"] == name)


def test_a_working_access_token_passes_every_step_and_exits_0(site, run):
    code, report = run("--json", "--media", token=fu.mint_token())
    assert code == 0 and report["ok"] is True
    assert list(report) == ["ok", "profile", "web_version", "steps", "summary", "advice"]
    assert [s["step"] for s in report["steps"]] == STEPS
    assert all(set(s) == KEYS for s in report["steps"])
    assert set(verdicts(report).values()) == {"ok"}, report
    assert report["profile"] == "chrome-149-windows" and report["web_version"] == "0.3.12"
    completion = step(report, "completion (stream)")
    assert completion["endpoint"] == "POST /api/v2/chat/completions"
    assert completion["http_status"] == 200
    assert completion["actual_status"] == ("200" if site.mode == fu.SEP_2026 else None)
    assert step(report, "image (t2i)")["details"] == "1 picture(s)"
    assert report["advice"] == [] and report["summary"].startswith("all 8 checks passed")


def test_the_walk_deletes_the_chats_it_created(site, run):
    code, report = run("--json", "--media", token=fu.mint_token())
    created = [r for r in site.requests if r.path == "/api/v2/chats/new"]
    deleted = [r for r in site.requests if r.method == "DELETE"]
    assert code == 0 and len(created) == 2 and len(deleted) == 2


def test_an_email_and_password_account_signs_in_first(site, run):
    site.v1_signin = True  # legacy has only v1; 2026-09 tries v2 first
    code, report = run("--json", QWENFREE_ACCOUNTS="demo@example.com:demo-password")
    assert code == 0, report
    assert verdicts(report)["sign in"] == "ok"
    assert step(report, "credential form")["details"] == "email and password (signs in)"
    want = "/api/v2/auths/signin" if site.mode == fu.SEP_2026 else "/api/v1/auths/signin"
    assert step(report, "sign in")["endpoint"] == "POST " + want


def test_a_refresh_token_is_refreshed_once_and_then_used(fake, run):
    fake.mode = fu.SEP_2026
    rt = fake.issue_refresh_token()
    code, report = run("--json", token=f"refresh_token={rt}")
    assert code == 0, report
    refresh = step(report, "refresh")
    assert refresh["verdict"] == "ok" and refresh["endpoint"] == "GET /api/v2/auths/refresh"
    assert fake.refresh_calls == 1


def test_a_revoked_refresh_token_says_sign_in_again(fake, run):
    fake.mode = fu.SEP_2026
    rt = fake.issue_refresh_token()
    fake.revoke(rt)
    code, report = run("--json", token=f"refresh_token={rt}")
    assert code == 1 and report["ok"] is False
    refresh = step(report, "refresh")
    assert refresh["verdict"] == "revoked"
    assert (refresh["http_status"], refresh["actual_status"]) == (200, "401")
    assert refresh["code"] == "Unauthorized" and "令牌已撤销" in refresh["details"]
    assert verdicts(report)["credential check"] == "skipped"  # nothing runs without a token
    assert "refresh token was revoked" in report["advice"][0]
    assert "copy the refresh_token cookie" in report["advice"][0]


def test_a_refused_refresh_is_revoked_in_the_legacy_dialect_too(fake, run):
    rt = fu.mint_token(type="refresh_token")
    fake.enqueue(
        fu.site_error(401, "Unauthorized", "令牌已撤销，请重新登录"), path="/api/v2/auths/refresh"
    )
    code, report = run("--json", token=f"refresh_token={rt}")
    assert code == 1 and verdicts(report)["refresh"] == "revoked"


def test_an_expired_access_token(site, run):
    expired = fu.mint_token(exp=int(time.time()) - 60)
    code, report = run("--json", token=expired)
    assert code == 1
    check = step(report, "credential check")
    assert check["verdict"] == "expired"
    if site.mode == fu.SEP_2026:
        assert (check["http_status"], check["actual_status"]) == (200, "401")
        assert check["code"] == "Unauthorized" and "token has expired" in check["details"]
    else:
        assert check["http_status"] == 401
    assert "lives about 15 minutes" in report["advice"][0]
    assert "(refresh_token= then the value)" in report["advice"][0]  # not redacted away
    assert "expired 1 min ago" in step(report, "credential form")["details"]


@pytest.mark.parametrize("page", [fu.aliyun_block, fu.punish])
def test_a_challenge_says_open_the_site_in_a_browser(site, run, page):
    site.enqueue(page(), path="/api/v1/auths/")
    code, report = run("--json", token=fu.mint_token())
    assert code == 1
    check = step(report, "credential check")
    assert check["verdict"] == "challenged" and check["code"] == "challenge"
    assert verdicts(report)["model list"] == "ok"  # each step runs once, on its own
    assert "asked for a captcha" in report["advice"][0]
    assert "chrome-149-windows" in report["advice"][0]


def test_the_header_gate_itself_challenges_a_stale_profile(fake, run, tmp_path):
    fake.mode = fu.SEP_2026
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"name": "stale-mobile", "mobile": "?1"}))
    code, report = run("--json", token=fu.mint_token(), QWENFREE_BROWSER_PROFILE=str(profile))
    assert code == 1 and report["profile"] == "stale-mobile"
    assert verdicts(report)["credential check"] == "challenged"
    assert fake.punished and "stale-mobile" in report["advice"][0]


def test_a_rate_limit(site, run):
    site.enqueue(fu.rate_limited())
    code, report = run("--json", token=fu.mint_token())
    assert code == 1
    completion = step(report, "completion (stream)")
    assert completion["verdict"] == "rate limited" and completion["code"] == "RateLimited"
    assert verdicts(report)["delete chat"] == "ok"  # the chat is cleaned up all the same
    assert "usage limit" in report["advice"][0]


def test_a_rate_limit_in_the_status_header(site, run):
    site.enqueue(fu.site_error(429, "Too_Many_Requests", "slow down"), path="/api/models")
    code, report = run("--json", token=fu.mint_token())
    models = step(report, "model list")
    assert code == 1 and models["verdict"] == "rate limited"
    assert models["code"] == "Too_Many_Requests" and "slow down" in models["details"]
    assert verdicts(report)["create chat"] == "skipped"


@pytest.mark.parametrize(
    ("shape", "named"),
    [
        ("message", "choices[].delta missing (choice keys ['message'])"),
        ("list", "choices[].delta.content is a list"),
        ("output", "a frame with keys ['output']"),
    ],
)
def test_a_frame_of_unknown_shape_is_named(site, run, shape, named):
    site.enqueue(fu.unknown_frame(shape=shape))
    code, report = run("--json", token=fu.mint_token())
    assert code == 1
    completion = step(report, "completion (stream)")
    assert completion["verdict"] == "changed shape"
    assert named in completion["details"]
    assert report["advice"] == [
        "the site's answer changed shape at POST /api/v2/chat/completions (completion "
        "(stream)): please report it with this output (the repository's bug report template)"
    ]


def test_the_text_report_has_a_header_a_line_per_step_and_advice(site, run):
    site.enqueue(fu.rate_limited())
    code, text = run(token=fu.mint_token())
    lines = text.splitlines()
    assert code == 1
    assert lines[0].startswith(f"qwenfree doctor: {site.url}, browser profile chrome-149-windows")
    assert "front-end version 0.3.12" in lines[0]
    line = next(x for x in lines if "completion (stream)" in x)
    assert line.startswith("rate limited") and "POST /api/v2/chat/completions" in line
    assert "http=200" in line and "code=RateLimited" in line and " ms " in line
    assert any(x.startswith("NOT OK: ") for x in lines)
    assert any(x.startswith("- the account hit the site's usage limit") for x in lines)


def test_no_credential_is_a_usage_error(run):
    code, text = run()
    assert code == 2 and text == ""


def test_no_secret_survives_in_text_or_json(fake, run):
    """Known secrets in, grep the output: the credential's parts, the tokens the walk got,
    the ids it met, the answer text, and a site error that echoes some of them back."""
    fake.mode = fu.SEP_2026
    fake.v1_signin = True
    email, password = "demo@example.com", "demo-password"
    rt = fake.issue_refresh_token(email=email)
    cookie = f"refresh_token={rt}; x5sec=x5sec-secret-value-7781; cna=cna-secret-9931"
    echoed = f"no such user {email} with token {rt}"
    outputs = []
    for argv in ((), ("--json",)):
        fake.enqueue(fu.site_error(400, "Bad_Request", echoed), path="/api/v2/files/getstsToken")
        fake.enqueue(fu.site_error(400, "Bad_Request", echoed), path="/api/v1/files/getstsToken")
        outputs.append(run(*argv, "--media", token=cookie)[1])
        outputs.append(run(*argv, QWENFREE_ACCOUNTS=f"{email}:{password}")[1])
    seen = set()
    for r in fake.requests:
        seen.add(r.headers.get("authorization", "").removeprefix("Bearer "))
        seen.update(cookies_of(r).values())
        seen.update(part for part in r.path.replace("?", "/").replace("=", "/").split("/"))
    seen.update(c for c in fake.chats)
    seen = {s for s in seen if len(s) >= 16 and not s.startswith("get")}  # ids and tokens
    secrets = {rt, "x5sec-secret-value-7781", "cna-secret-9931", email, password}
    texts = [o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in outputs]
    assert any("[redacted]" in t or "[email]" in t for t in texts)
    assert len(seen) > 5  # tokens, chat ids, cookie values
    for t in texts:
        for secret in secrets | seen | {fu.DEFAULT_TEXT}:
            assert secret not in t, (secret, t)


def test_a_tongyi_ticket_walks_tongyi(run):
    with ft.FakeTongyi() as tongyi:
        code, report = run(
            "--json",
            token="tongyi-sso-ticket-0001",
            QWENFREE_TONGYI_TICKETS="true",
            QWENFREE_TONGYI_URL=tongyi.url,
        )
        assert code == 0, report
        got = verdicts(report)
        assert got["credential check"] == got["completion (stream)"] == got["delete chat"] == "ok"
        assert got["upload credential (STS)"] == "skipped"
        assert step(report, "completion (stream)")["endpoint"] == "POST /dialog/conversation"
        code, report = run(
            "--json",
            token="bad-tongyi-ticket-0001",
            QWENFREE_TONGYI_TICKETS="true",
            QWENFREE_TONGYI_URL=tongyi.url,
        )
        assert code == 1 and verdicts(report)["credential check"] == "expired"
        reshaped = fu.Script([fu.Frame({"output": {"text": "Hello"}}), ft.DONE])
        tongyi.enqueue(reshaped, path=ft.CONVERSATION)
        code, report = run(
            "--json",
            token="tongyi-sso-ticket-0001",
            QWENFREE_TONGYI_TICKETS="true",
            QWENFREE_TONGYI_URL=tongyi.url,
        )
        completion = step(report, "completion (stream)")
        assert code == 1 and completion["verdict"] == "changed shape"
        assert "a frame with keys ['output'] (no contents list)" in completion["details"]


# --------------------------------------------------------------------------- admin endpoint


@pytest.fixture
def keyed_gateway(start_gateway, settings, tmp_path) -> Iterator[Any]:
    (token,) = tokens(1)
    accounts = f"{token},demo@example.com:demo-password"
    yield start_gateway(keyed(settings, tmp_path / "data", accounts=accounts))


def test_the_admin_endpoint_needs_the_admin_key(keyed_gateway):
    url = keyed_gateway.url + "/admin/api/doctor"
    assert requests.post(url).status_code == 401
    user = {"Authorization": "Bearer " + USER_KEY}
    assert requests.post(url, headers=user).status_code in (401, 403)


def test_the_admin_endpoint_returns_the_report(keyed_gateway, fake):
    fake.mode = fu.SEP_2026
    url = keyed_gateway.url + "/admin/api/doctor"
    r = requests.post(url, headers=ADMIN)
    assert r.status_code == 200, r.text
    report = r.json()
    assert list(report) == ["ok", "profile", "web_version", "steps", "summary", "advice"]
    assert report["ok"] is True and all(set(s) == KEYS for s in report["steps"])
    accounts = requests.get(keyed_gateway.url + "/admin/api/accounts", headers=ADMIN).json()
    second = accounts["accounts"][1]
    r = requests.post(url, headers=ADMIN, json={"account": second["alias"]})
    assert r.status_code == 200 and r.json()["ok"] is True
    assert requests.post(url, headers=ADMIN, json={"account": "nobody"}).status_code == 404
    fake.enqueue(fu.rate_limited())
    report = requests.post(url, headers=ADMIN, json={"account": second["id"]}).json()
    assert report["ok"] is False and verdicts(report)["completion (stream)"] == "rate limited"


def test_no_answer_at_all_points_at_the_network(run):
    code, report = run("--json", token=fu.mint_token(), QWENFREE_UPSTREAM_URL="http://127.0.0.1:1")
    check = step(report, "credential check")
    assert code == 1 and check["verdict"] == "failed"
    assert check["endpoint"] == "GET /api/v1/auths/" and check["http_status"] is None
    assert any("got no answer: check the network" in line for line in report["advice"])
