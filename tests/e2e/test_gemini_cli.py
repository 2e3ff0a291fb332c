"""The real gemini-cli (headless, ``gemini -p``) against the gateway and the fake upstream.

A test-only WSGI middleware records every request the CLI sends, so the tests also pin down what
gemini-cli really asks for (endpoints, headers, body fields). Skipped when the CLI is absent
(``.ci/install-clis.sh`` installs it).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support.models import default_model

ROOT = Path(__file__).resolve().parents[2]
GEMINI = ROOT / ".ci" / "clis" / "node_modules" / ".bin" / "gemini"
# gemini-cli 0.61's model router asks for this JSON first; a non-JSON answer only costs retries.
ROUTE = '{"complexity_reasoning": "A simple request.", "complexity_score": 5}'
SAID = "gemini-cli via qwenfree ✓ 42"

pytestmark = [
    pytest.mark.skipif(
        not GEMINI.exists() or shutil.which("node") is None,
        reason="gemini-cli is not installed (run .ci/install-clis.sh; needs node and npm)",
    ),
    pytest.mark.timeout(300),
]


@dataclasses.dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    status: int = 0


class Recorder:
    """Test-only WSGI middleware: remember each request and the status it got."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[Seen] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        seen = Seen(
            environ["REQUEST_METHOD"],
            environ["PATH_INFO"],
            environ.get("QUERY_STRING", ""),
            headers,
            body,
        )
        self.seen.append(seen)

        def start(status: str, response_headers: Any, *exc: Any) -> Any:
            seen.status = int(status.split()[0])
            return start_response(status, response_headers, *exc)

        return self.app(environ, start)


@pytest.fixture
def recorded(gateway) -> Recorder:
    recorder = Recorder(gateway.app.wsgi_app)
    gateway.app.wsgi_app = recorder
    return recorder


def run_gemini(gateway, tmp_path: Path, prompt: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``gemini -p`` with a fresh HOME and working directory, pointed at the gateway."""
    home, work, tmp = tmp_path / "home", tmp_path / "work", tmp_path / "tmp"
    for folder in (home / ".gemini", work, tmp):
        folder.mkdir(parents=True, exist_ok=True)
    settings = {
        # Without this, GOOGLE_GEMINI_BASE_URL alone selects an auth type 0.61 then rejects.
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
    }
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(tmp),  # gemini-cli writes error reports there
        "GEMINI_API_KEY": TOKEN,
        "GOOGLE_GEMINI_BASE_URL": gateway.url,
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "GEMINI_TELEMETRY_ENABLED": "false",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    return subprocess.run(
        [str(GEMINI), "-p", prompt, *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def model_calls(recorded: Recorder) -> list[Seen]:
    return [s for s in recorded.seen if s.method == "POST" and ":" in s.path]


def test_gemini_cli_answers_a_prompt(gateway, fake, recorded, tmp_path):
    fake.default_text = SAID
    fake.enqueue(fu.answer(ROUTE), fu.answer(SAID, pieces=["gemini-cli via ", "qwenfree ✓ 42"]))
    done = run_gemini(gateway, tmp_path, "Say the magic words.")
    assert done.returncode == 0, done.stderr[-3000:]
    assert SAID in done.stdout

    calls = model_calls(recorded)
    assert all(s.status == 200 for s in recorded.seen), [(s.path, s.status) for s in recorded.seen]
    assert all(s.headers.get("x-goog-api-key") == TOKEN for s in calls)
    assert all(
        s.headers.get("x-goog-api-client", "").startswith("google-genai-sdk/") for s in calls
    )
    router = next(s for s in calls if s.path.endswith(":generateContent"))
    assert router.path.startswith("/v1beta/models/gemini-")
    assert router.body["generationConfig"]["responseMimeType"] == "application/json"
    assert router.body["generationConfig"]["responseJsonSchema"]["type"] == "OBJECT"
    main = next(s for s in calls if s.path.endswith(":streamGenerateContent"))
    assert main.query == "alt=sse"
    assert {"contents", "systemInstruction", "tools", "generationConfig"} <= set(main.body)
    declarations = main.body["tools"][0]["functionDeclarations"]
    assert all("parametersJsonSchema" in d for d in declarations)
    assert main.body["generationConfig"]["thinkingConfig"]["includeThoughts"] is True
    # Both reached the upstream: the router's JSON question, then the conversation itself.
    assert len(fake.completions()) == len(calls)
    assert "Say the magic words." in fake.last_completion().json["messages"][0]["content"]
    # no QWENFREE_DEFAULT_MODEL: gemini-* is the site's first model (qwen3.8-plus on 2026-09)
    assert {c.json["model"] for c in fake.completions()} == {default_model(fake)}


def test_gemini_cli_reads_a_file_through_a_tool_call(gateway, fake, recorded, tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("The secret word is PAPAYA.\n")
    call = '<tool_use name="read_file">\n{"file_path": "notes.txt"}\n</tool_use>'
    fake.default_text = "The secret word is PAPAYA."
    fake.enqueue(
        fu.answer(ROUTE),
        fu.answer(call),
        fu.answer("The secret word is PAPAYA."),
    )
    done = run_gemini(gateway, tmp_path, "What is the secret word in notes.txt?", "--yolo")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "PAPAYA" in done.stdout
    streams = [s for s in model_calls(recorded) if s.path.endswith(":streamGenerateContent")]
    parts = [p for c in streams[-1].body["contents"] for p in c["parts"]]
    assert any("functionCall" in p for p in parts)
    assert any("functionResponse" in p for p in parts)
    assert "PAPAYA" in fake.last_completion().json["messages"][0]["content"]
