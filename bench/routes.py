"""What the load generator sends: the gateway's dialect routes, and the direct upstream calls.

A gateway request and a direct one ask for the same answer (the fake reads its shape from the
message text), so their times differ only by what the gateway adds.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from bench.client import Conn, HTTPError, Result
from qwenfree.upstream import qwen

TOKEN = "bench-token-0001"
MODEL = "qwen3.7-plus"  # listed by both fake sites (tests/support/models.py MODEL)


@dataclass(frozen=True)
class Route:
    """One gateway route in one dialect, streamed or not."""

    dialect: str
    stream: bool

    @property
    def label(self) -> str:
        names = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Gemini"}
        return f"{names[self.dialect]} {'stream' if self.stream else 'non-stream'}"

    def build(self, text: str) -> tuple[str, dict[str, str], dict[str, Any]]:
        """Path, headers and body asking for the answer described by ``text``."""
        auth = {"Authorization": f"Bearer {TOKEN}"}
        if self.dialect == "openai":
            messages = [{"role": "user", "content": text}]
            return (
                "/v1/chat/completions",
                auth,
                {"model": MODEL, "messages": messages} | ({"stream": True} if self.stream else {}),
            )
        if self.dialect == "anthropic":
            headers = auth | {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
            body = {"model": MODEL, "max_tokens": 4096, "stream": self.stream}
            return "/v1/messages", headers, body | {"messages": [{"role": "user", "content": text}]}
        verb = "streamGenerateContent?alt=sse" if self.stream else "generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
        return f"/v1beta/models/{MODEL}:{verb}", auth | {"x-goog-api-key": TOKEN}, body


STREAMS = [Route("openai", True), Route("anthropic", True), Route("gemini", True)]
NON_STREAMS = [Route("openai", False), Route("anthropic", False), Route("gemini", False)]


def spec(n: int, gap: float = 0.0, first: float = 0.0, size: int = 8) -> str:
    """The message text that makes the fake answer with ``n`` pieces ``gap`` seconds apart."""
    return f"bench:n={n},gap={gap},first={first},size={size}"


def via_gateway(conn: Conn, route: Route, text: str, track: bool = False) -> Result:
    path, headers, body = route.build(text)
    result = Result(start=time.perf_counter())
    return _checked(
        lambda: conn.request("POST", path, headers, body, track=track, result=result), result
    )


def direct(conn: Conn, text: str, track: bool = False, chat_id: str | None = None) -> Result:
    """What any client of chat.qwen.ai does: create a chat, then stream the completion."""
    result = Result(start=time.perf_counter())
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}

    def run() -> Result:
        cid = chat_id or new_chat(conn, headers)
        body = qwen.completion_body(
            text,
            model=MODEL,
            chat_id=cid,
            parent_id=None,
            chat_type="t2t",
            thinking=False,
            thinking_budget=None,
            now=time.time(),
        )
        path = f"/api/v2/chat/completions?chat_id={cid}"
        return conn.request("POST", path, headers, body, track=track, result=result)

    return _checked(run, result)


def new_chat(conn: Conn, headers: dict[str, str]) -> str:
    body = qwen.new_chat_body(MODEL, "t2t", time.time())
    created = conn.request("POST", "/api/v2/chats/new", headers, body)
    return str(json.loads(created.body)["data"]["id"])


def _checked(call: Any, result: Result | None = None) -> Result:
    """Run a request; a broken connection becomes a failed Result instead of an exception."""
    try:
        return call()  # type: ignore[no-any-return]
    except (OSError, HTTPError, ValueError, KeyError) as exc:
        out = result or Result(start=time.perf_counter())
        out.end, out.error = time.perf_counter(), f"{type(exc).__name__}: {exc}"
        return out
