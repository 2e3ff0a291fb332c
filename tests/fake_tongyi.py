"""A fake Tongyi site (qianwen.biz.aliyun.com) on loopback, built on the chat.qwen.ai fake's
HTTP plumbing. Its stream is cumulative, carries bare ``[heartbeat]`` lines and ends with
``[DONE]`` (upstream-tongyi.md §2, §14).

    python tests/fake_tongyi.py --port 9200
"""

from __future__ import annotations

import argparse
import re
import time
import uuid
from typing import Any

try:
    from tests.fake_upstream import FakeUpstream, Frame, Raw, Recorded, Script, _json
except ImportError:  # run as a script: tests/ itself is on sys.path
    from fake_upstream import FakeUpstream, Frame, Raw, Recorded, Script, _json  # type: ignore[no-redef]

CONVERSATION = "/dialog/conversation"
DEFAULT_TEXT = "Hello from the fake Tongyi."
HEARTBEAT = Raw(b"data: [heartbeat]\n\n")
DONE = Raw(b"data: [DONE]\n\n")
TICKET_COOKIES = ("tongyi_sso_ticket", "login_aliyunid_ticket")


def _hex() -> str:
    return uuid.uuid4().hex


def _snapshot(
    text: str, status: str = "generating", think: str = "", **extra: Any
) -> dict[str, Any]:
    contents = [{"contentType": "text", "role": "assistant", "content": text}]
    if think:
        contents.insert(0, {"contentType": "think", "role": "assistant", "content": think})
    frame = {"msgStatus": status, "contentType": "text", "contents": contents, "canShare": True}
    return frame | extra


def answer(
    text: str = DEFAULT_TEXT,
    *,
    pieces: list[str] | None = None,
    think: str = "",
    delay: float = 0.0,
    finished_resends: bool = True,
) -> Script:
    """A cumulative stream: growing snapshots, heartbeats, a finished frame, then [DONE]."""
    pieces = pieces if pieces is not None else [text[: len(text) // 2], text[len(text) // 2 :]]
    steps: list[Any] = []
    so_far = ""
    for piece in pieces:
        so_far += piece
        steps += [Frame(_snapshot(so_far, think=think), delay), HEARTBEAT]
    steps.append(Frame(_snapshot(so_far, think=think), delay))  # a repeated snapshot
    final = so_far if finished_resends else ""
    steps += [Frame(_snapshot(final, "finished", think=think, errorCode="")), DONE]
    return Script(steps)


def moderated(text: str = "Partial") -> Script:
    """The answer is stopped by content moderation (canShare false on the finished frame)."""
    return Script(
        [Frame(_snapshot(text)), Frame(_snapshot(text, "finished", canShare=False)), DONE]
    )


def error_code(code: str = "SYSTEM_ERROR", text: str = "") -> Script:
    """A finished frame carrying a non-empty errorCode."""
    return Script(
        [Frame(_snapshot(text)), Frame(_snapshot(text, "finished", errorCode=code)), DONE]
    )


def failure(code: str = "NOT_LOGIN", message: str = "please log in") -> Script:
    """The JSON failure envelope instead of a stream."""
    return _json(200, {"success": False, "errorCode": code, "errorMsg": message})


def image(urls: list[str]) -> Script:
    frame = _snapshot(" ".join(urls), "finished", contentFrom="text2image")
    frame["contents"][0]["contentType"] = "text2image"
    return Script([Frame(frame), DONE])


class FakeTongyi(FakeUpstream):
    """Tongyi endpoints; tickets come in the cookie. A ticket starting with "bad" is refused."""

    ROUTES = [
        (m, re.compile(p), name, auth)
        for m, p, name, auth in [
            ("POST", CONVERSATION, "_conversation", True),
            ("POST", r"/dialog/session/delete", "_delete_session", True),
            ("POST", r"/dialog/session/list", "_list_sessions", True),
        ]
    ]

    def _set_defaults(self) -> None:
        super()._set_defaults()
        self.sessions: dict[str, list[str]] = {}  # session id -> message ids
        self.deleted_sessions: list[str] = []
        self.default_text = DEFAULT_TEXT

    @staticmethod
    def _token(req: Recorded) -> str | None:
        for part in req.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key in TICKET_COOKIES and value:
                return value
        return None

    def _token_ok(self, token: str | None) -> bool:
        if not token:
            return False
        return (
            token in self.valid_tokens
            if self.valid_tokens is not None
            else not token.startswith("bad")
        )

    def conversations(self) -> list[Recorded]:
        return [r for r in list(self.requests) if r.path == CONVERSATION]

    def _conversation(self, req: Recorded, m: re.Match[str]) -> Any:
        body = req.json if isinstance(req.json, dict) else {}
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents or body.get("model") in (None, ""):
            return failure("INVALID_PARAM", "contents and model are required")
        session = body.get("sessionId") or ""
        if session and (
            session not in self.sessions or body.get("parentMsgId") not in self.sessions[session]
        ):
            return failure("SESSION_NOT_FOUND", "session or parent message not found")
        session = session or _hex()
        msg_id = _hex()
        with self._lock:
            self.sessions.setdefault(session, []).append(msg_id)
        script = self._pop(CONVERSATION) or answer(self.default_text)
        return self._stamped(script, session, msg_id), None

    @staticmethod
    def _stamped(script: Script, session: str, msg_id: str) -> Script:
        """Give every frame this answer's ids (Tongyi repeats them on every frame)."""

        def stamp(step: Any) -> Any:
            if isinstance(step, Frame):
                return Frame({"sessionId": session, "msgId": msg_id} | step.obj, step.delay)
            return step

        if script.body is not None:
            return script
        return Script(
            [stamp(s) for s in script.steps],
            script.framing,
            script.crlf,
            script.status,
            script.content_type,
            script.headers,
            None,
            script.first_byte_delay,
        )

    def _delete_session(self, req: Recorded, m: re.Match[str]) -> Script:
        session = (req.json or {}).get("sessionId") if isinstance(req.json, dict) else None
        if not session or session not in self.sessions:
            return failure(
                "STRING_IS_BLANK" if not session else "SESSION_NOT_FOUND", "bad sessionId"
            )
        with self._lock:
            del self.sessions[session]
            self.deleted_sessions.append(session)
        return _json(200, {"success": True, "data": None})

    def _list_sessions(self, req: Recorded, m: re.Match[str]) -> Script:
        data = [{"sessionId": s, "gmtCreate": int(time.time() * 1000)} for s in self.sessions]
        return _json(200, {"success": True, "data": data})


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake Tongyi site for trying qwenfree offline.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args()
    fake = FakeTongyi(args.host, args.port).start()
    print(f"fake Tongyi listening on {fake.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
