"""Recorded traffic in tests/fixtures/: the golden chat.qwen.ai transcript and the requests
captured from real clients (Claude Code, gemini-cli), long strings truncated in the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN = (FIXTURES / "thinking_dual.sse").read_bytes()  # one chat.qwen.ai stream, thinking on


def expand(value: Any) -> Any:
    """Undo the capture's truncation of long strings ({"_head", "_chars"}) to full length."""
    if isinstance(value, dict):
        if set(value) == {"_head", "_chars"}:
            return (value["_head"] + " lorem" * value["_chars"])[: value["_chars"]]
        return {k: expand(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


def captured(index: int) -> tuple[dict, dict]:
    """(body, headers) of Claude Code's request number ``index``, placeholders dropped."""
    request = json.loads((FIXTURES / "claude_code_request.json").read_text())["requests"][index]
    headers = {k: v for k, v in request["headers"].items() if not v.startswith("<")}
    return expand(request["body"]), headers
