"""Security checks that need no upstream: CORS (off by default, an exact allow-list when on), the
homepage's security headers, and the CI scripts (.ci/hygiene.sh, .ci/security.sh), each shown
failing on a planted sample in a temporary copy of the repository."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest
import requests

from qwenfree.settings import Settings
from tests.conftest import TOKEN
from tests.support.models import MODEL

ROOT = Path(__file__).resolve().parents[2]
APP = "https://app.example.com"
PREFLIGHT = {
    "Origin": APP,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, x-api-key, anthropic-version",
}
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


# ------------------------------------------------------------------------------ CORS


def test_cors_is_off_by_default(gateway, fake):
    pre = requests.options(gateway.url + "/v1/chat/completions", headers=PREFLIGHT)
    post = requests.post(
        gateway.url + "/v1/chat/completions",
        json=CHAT,
        headers={"Origin": APP, "Authorization": "Bearer " + TOKEN},
    )
    assert post.status_code == 200
    for r in (pre, post):
        assert not [h for h in r.headers if h.lower().startswith("access-control-")], r.headers


@pytest.fixture
def cors_gateway(start_gateway, settings):
    return start_gateway(
        dataclasses.replace(settings, cors_origins=f" {APP}/ , https://other.example.org")
    )


@pytest.mark.parametrize(
    "path",
    ["/v1/chat/completions", "/v1/messages", "/v1beta/models/gemini-2.5-flash:generateContent"],
)
def test_a_listed_origin_passes_the_preflight(cors_gateway, path):
    r = requests.options(cors_gateway.url + path, headers=PREFLIGHT)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == APP
    allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-api-key", "anthropic-version"} <= allowed
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert int(r.headers["Access-Control-Max-Age"]) > 0


def test_every_client_header_is_allowed(cors_gateway):
    wanted = (
        "Authorization, Content-Type, x-api-key, anthropic-version, anthropic-beta, "
        "x-goog-api-key, x-goog-api-client"
    )
    r = requests.options(
        cors_gateway.url + "/v1/messages",
        headers=PREFLIGHT | {"Access-Control-Request-Headers": wanted},
    )
    allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert {h.strip().lower() for h in wanted.split(",")} <= allowed


def test_a_listed_origin_reads_answers_errors_and_the_request_id(cors_gateway, fake):
    ok = requests.post(
        cors_gateway.url + "/v1/chat/completions",
        json=CHAT,
        headers={"Origin": "https://other.example.org", "Authorization": "Bearer " + TOKEN},
    )
    refused = requests.post(
        cors_gateway.url + "/v1/chat/completions", json=CHAT, headers={"Origin": APP}
    )
    assert (ok.status_code, refused.status_code) == (200, 401)
    for r, origin in ((ok, "https://other.example.org"), (refused, APP)):
        assert r.headers["Access-Control-Allow-Origin"] == origin
        assert "x-request-id" in r.headers["Access-Control-Expose-Headers"].lower()
        assert "origin" in r.headers.get("Vary", "").lower()
        assert "Access-Control-Allow-Credentials" not in r.headers


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "https://app.example.com.evil.example",  # a listed origin as a prefix
        "https://appXexample.com",  # "." must not act as a regex wildcard
        "http://app.example.com",  # another scheme is another origin
        "null",
    ],
)
def test_other_origins_get_no_cors_headers(cors_gateway, origin):
    r = requests.options(
        cors_gateway.url + "/v1/chat/completions", headers=PREFLIGHT | {"Origin": origin}
    )
    assert "Access-Control-Allow-Origin" not in r.headers


def test_the_wildcard_allows_any_origin_without_credentials(start_gateway, settings):
    gateway = start_gateway(dataclasses.replace(settings, cors_origins="*"))
    r = requests.options(
        gateway.url + "/v1/chat/completions", headers=PREFLIGHT | {"Origin": "https://a.test"}
    )
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers


def test_pages_and_operations_are_not_opened_to_other_origins(cors_gateway):
    for path in ("/", "/healthz", "/openapi.json"):
        r = requests.get(cors_gateway.url + path, headers={"Origin": APP})
        assert "Access-Control-Allow-Origin" not in r.headers, path


@pytest.mark.skipif(
    "api_keys" not in {f.name for f in fields(Settings)}, reason="caller keys not present"
)
def test_preflights_need_no_key_when_caller_keys_are_on(start_gateway, settings, tmp_path):
    keyed = dataclasses.replace(
        settings, cors_origins=APP, api_keys="sk-key-1", accounts="tok-1", data_dir=str(tmp_path)
    )
    gateway = start_gateway(keyed)
    r = requests.options(gateway.url + "/v1/chat/completions", headers=PREFLIGHT)
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == APP
    denied = requests.post(gateway.url + "/v1/chat/completions", json=CHAT, headers={"Origin": APP})
    assert denied.status_code == 401  # the real request still needs the key


# ------------------------------------------------------------------------------ page headers


@pytest.mark.parametrize("path", ["/", "/docs", "/static/qwenfree.css"])
def test_pages_carry_the_security_headers(gateway, path):
    r = requests.get(gateway.url + path)
    assert r.status_code == 200
    csp = {
        d.strip().split(" ", 1)[0]: d.strip()
        for d in r.headers["Content-Security-Policy"].split(";")
    }
    assert csp["default-src"] == "default-src 'self'"
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["object-src"] == "object-src 'none'" and csp["base-uri"] == "base-uri 'none'"
    assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"


# ------------------------------------------------------------------------------ .ci/hygiene.sh


def hygiene_copy(tmp_path: Path) -> Path:
    """A minimal repository: the script, the real lock files and one clean module."""
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    (repo / "qwenfree").mkdir()
    shutil.copy(ROOT / ".ci" / "hygiene.sh", repo / ".ci" / "hygiene.sh")
    for lock in ("requirements.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / lock, repo / lock)
    shutil.copy(ROOT / "qwenfree" / "sse.py", repo / "qwenfree" / "sse.py")
    return repo


def run_hygiene(repo: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"GIT_CEILING_DIRECTORIES": str(repo.parent)}  # not a git checkout
    return subprocess.run(
        ["bash", ".ci/hygiene.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=60
    )


BLOB = base64.b64encode(bytes(range(256)) * 2).decode()  # 684 base64 characters
PLANTS = {
    # check heading: (file, text appended)
    "lines longer than 200": ("qwenfree/a.py", "x = 1" + " # pad" * 50 + "\n"),
    "consecutive spaces/tabs": ("qwenfree/a.py", "x = 1" + " " * 60 + "; import os\n"),
    "dynamic code execution": ("qwenfree/a.py", "result = eval(user_text)\n"),
    "bidirectional-control": ("qwenfree/a.py", "access = 'user\u202e \u2066// admin'\n"),
    "base64-like runs": ("qwenfree/a.py", f'DATA = (\n    "{BLOB[:150]}"\n)\n'),
    "split over consecutive lines": (
        "qwenfree/a.py",
        "DATA = (\n" + "".join(f'    "{BLOB[i : i + 70]}"\n' for i in range(0, 280, 70)) + ")\n",
    ),
    "minified files": ("qwenfree/static/vendor.min.js", "var a=1;\n"),
    "dense lines": ("qwenfree/static/app.js", ";".join(f"a{i}=f(a,{i})" for i in range(14)) + "\n"),
    "source-map references": ("qwenfree/static/app.js", "//# sourceMappingURL" + "=app.js.map\n"),
    "source maps": ("qwenfree/static/app.js.map", '{"version":3}\n'),
    "unhashed requirements": ("requirements.txt", "evil-package==1.0\n"),
    "points outside PyPI": ("requirements.txt", "--extra-index-url https://evil.example/simple\n"),
}


def test_hygiene_passes_on_the_repository_and_its_clean_copy(tmp_path):
    assert run_hygiene(hygiene_copy(tmp_path)).returncode == 0
    real = subprocess.run(["bash", ".ci/hygiene.sh"], cwd=ROOT, capture_output=True, text=True)
    assert real.returncode == 0, real.stderr


@pytest.mark.parametrize("heading", list(PLANTS))
def test_hygiene_fails_on_a_planted_sample(tmp_path, heading):
    repo = hygiene_copy(tmp_path)
    name, text = PLANTS[heading]
    target = repo / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a", encoding="utf-8") as f:
        f.write(text)
    result = run_hygiene(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "hygiene: FAIL: " in result.stderr and heading in result.stderr, result.stderr
    assert "1 check(s) failed" in result.stderr, result.stderr  # this check alone


# ------------------------------------------------------------------------------ .ci/security.sh


def security_copy(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "security.sh", repo / ".ci" / "security.sh")
    for name in ("requirements.txt", "requirements-dev.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, repo / name)
    shutil.copytree(ROOT / "qwenfree", repo / "qwenfree", ignore=shutil.ignore_patterns("__py*"))
    return repo


def run_security(repo: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"BIN": str(ROOT / ".venv" / "bin"), "AUDIT": "skip"}
    return subprocess.run(
        ["bash", ".ci/security.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )


def test_security_script_writes_an_sbom_and_fails_on_a_bandit_finding(tmp_path):
    repo = security_copy(tmp_path)
    clean = run_security(repo)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "SKIPPED pip-audit" in clean.stdout  # the skip says so, with its reason
    bom = json.loads((repo / "sbom" / "requirements.cdx.json").read_text())
    names = {c["name"] for c in bom["components"]}
    assert bom["bomFormat"] == "CycloneDX" and {"flask", "requests", "gunicorn"} <= names

    with (repo / "qwenfree" / "sse.py").open("a") as f:
        f.write("\n\ndef run(cmd: str) -> None:\n    import subprocess\n\n")
        f.write("    subprocess.call(cmd, shell=True)\n")
    planted = run_security(repo)
    assert planted.returncode == 1
    assert "bandit reported findings" in planted.stderr
