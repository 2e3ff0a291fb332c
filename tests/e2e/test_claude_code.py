"""The real Claude Code CLI against the gateway and the fake upstream: it must call a tool, and
keep working once its transcript outgrows one request body.

The fake is scripted: its first answer is a Write call in the engine's protocol, its second (after
it sees the tool result in the prompt) is plain text. A tiny WSGI middleware records what the
CLI sent, since the fake only sees our side. Skipped, with the reason, when the CLI is absent
(``.ci/install-clis.sh`` installs it).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support.models import default_model
from tests.support.tool_calls import call

CLAUDE = Path(__file__).resolve().parents[2] / ".ci" / "clis" / "node_modules" / ".bin" / "claude"

pytestmark = pytest.mark.skipif(
    not CLAUDE.exists(), reason=f"Claude Code CLI not installed at {CLAUDE} (.ci/install-clis.sh)"
)


def record(app: Any) -> list[dict[str, Any]]:
    """Wrap the app so every request's method, path, query, headers and JSON body are kept."""
    seen: list[dict[str, Any]] = []
    inner = app.wsgi_app

    def middleware(environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {
            k[5:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        entry = {
            "method": environ["REQUEST_METHOD"],
            "path": environ["PATH_INFO"],
            "query": environ.get("QUERY_STRING", ""),
            "headers": headers,
            "body": json.loads(body) if body[:1] == b"{" else None,
        }
        seen.append(entry)

        def start(status: str, *args: Any) -> Any:
            entry["status"] = int(status.split()[0])
            return start_response(status, *args)

        return inner(environ, start)

    app.wsgi_app = middleware
    return seen


def run_claude(
    url: str, workdir: Path, home: Path, auth: dict[str, str], task: str, tools: str = "Write"
) -> Any:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": url,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    } | auth
    return subprocess.run(
        [str(CLAUDE), "-p", task, "--allowedTools", tools],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "auth",
    [{"ANTHROPIC_API_KEY": TOKEN}, {"ANTHROPIC_AUTH_TOKEN": TOKEN}],
    ids=["x-api-key", "bearer"],
)
def test_claude_code_writes_a_file_through_a_tool_call(gateway, fake, tmp_path, auth):
    workdir, home = tmp_path / "work", tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    target = workdir / "hello.txt"
    write = call("Write", {"file_path": str(target), "content": "hello from qwen\n"})
    fake.enqueue(
        fu.answer("I'll create the file.\n" + write + "\n"), fu.answer("Created hello.txt.")
    )
    seen = record(gateway.app)

    done = run_claude(gateway.url, workdir, home, auth, "Create hello.txt saying hello from qwen")

    assert done.returncode == 0, done.stderr[-2000:]
    assert target.read_text() == "hello from qwen\n"
    assert "Created hello.txt." in done.stdout
    posts = [r for r in seen if r["method"] == "POST"]
    assert [(r["path"], r["query"], r["status"]) for r in posts] == [
        ("/v1/messages", "beta=true", 200),
        ("/v1/messages", "beta=true", 200),
    ]
    assert {r["method"] for r in seen} <= {"POST", "HEAD"}  # at most a reachability probe
    first, second = (r["body"] for r in posts)
    headers = posts[0]["headers"]
    assert headers["anthropic-version"] == "2023-06-01" and headers["x-app"] == "cli"
    key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
    assert key == TOKEN
    assert first["stream"] is True and "Write" in {t["name"] for t in first["tools"]}
    assert first["model"].startswith("claude-") and first["thinking"]["type"] == "adaptive"
    tool_use = second["messages"][-2]["content"][-1]
    result = second["messages"][-1]["content"][0]
    assert tool_use["type"] == "tool_use" and tool_use["name"] == "Write"
    assert result["type"] == "tool_result" and result["tool_use_id"] == tool_use["id"]
    upstream = fake.completions()[-1].json["messages"][0]["content"]
    assert f'<tool_result id="{tool_use["id"]}" name="Write">' in upstream
    # no QWENFREE_DEFAULT_MODEL: claude-* is the site's first model (qwen3.8-plus on 2026-09)
    assert {c.json["model"] for c in fake.completions()} == {default_model(fake)}


def test_claude_code_reads_past_200_kb_without_prompt_is_too_long(
    start_gateway, settings, fake, tmp_path
):
    """A multi-turn task whose transcript outgrows the WAF's body limit: every request is
    answered (the older part travels as attached files), none is refused, and the CLI never
    compacts (long_prompt.py)."""
    gateway = start_gateway(dataclasses.replace(settings, poll_interval=0.02))
    fake.max_body = 120 * 1024  # the WAF punishes larger completion bodies
    workdir, home = tmp_path / "work", tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    paths = []
    for n in range(1, 5):
        path = workdir / f"module_{n}.py"
        path.write_text("".join(f"VALUE_{n}_{i} = {i * n}  # line {i}\n" for i in range(1500)))
        paths.append(path)
    reads = [fu.answer(f"Reading {p.name}.\n" + call("Read", {"file_path": str(p)})) for p in paths]
    fake.enqueue(*reads, fu.answer("Read all four modules."))
    seen = record(gateway.app)

    done = run_claude(
        gateway.url,
        workdir,
        home,
        {"ANTHROPIC_API_KEY": TOKEN},
        "Read module_1.py to module_4.py one by one",
        tools="Read",
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "Read all four modules." in done.stdout
    assert "too long" not in done.stdout + done.stderr
    assert all(r["status"] == 200 for r in seen)  # count_tokens too: it checks the reads
    posts = [r for r in seen if r["method"] == "POST" and r["path"] == "/v1/messages"]
    assert len(posts) == 5
    transcript = len(json.dumps(posts[-1]["body"]))
    assert transcript > 200_000
    last = posts[-1]["body"]["messages"]
    results = [p for m in last for p in m["content"] if isinstance(p, dict)]
    assert sum(p.get("type") == "tool_result" for p in results) == 4
    assert "VALUE_4_1499" in json.dumps(last[-1])  # the CLI read the whole last file
    assert all(len(c.body) < 120 * 1024 for c in fake.completions())
    files = fake.last_completion().json["messages"][0]["files"]
    moved = "".join(fake.files[f["id"]].data.decode() for f in files)
    assert (
        "VALUE_1_1499" in moved
        and "VALUE_1_1499" not in (fake.last_completion().json["messages"][0]["content"])
    )


def test_claude_code_stops_at_once_on_a_refused_credential(gateway, fake, tmp_path):
    """Pass-through: a token the site refuses is the caller's 401, so the CLI stops with an
    authentication message instead of retrying "overloaded" for minutes."""
    workdir, home = tmp_path / "work", tmp_path / "home"
    workdir.mkdir()
    home.mkdir()
    expired = fu.mint_token("someone", exp=int(time.time()) - 60)
    seen = record(gateway.app)
    done = run_claude(gateway.url, workdir, home, {"ANTHROPIC_API_KEY": expired}, "Say hi")
    said = (done.stdout + done.stderr).lower()
    assert "api key" in said or "authentication" in said or "401" in said, said[-2000:]
    assert "overloaded" not in said
    asked = [r for r in seen if r["method"] == "POST" and r["path"] == "/v1/messages"]
    assert 1 <= len(asked) <= 2 and all(r["status"] == 401 for r in asked)  # no retry loop
