"""The site's rules per mode: "legacy" (mid-2026, the fake as it always was) and "2026-09"
(upstream-chat-qwen-ai.md §16). Everything the 2026-09 mode enforces on a request's headers is
in the GATE table below; tests/fake/README.md lists the rest."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from .frames import COMPLETIONS, Script, _uid
from .scripts import _json
from .state import Recorded

LEGACY = "legacy"
SEP_2026 = "2026-09"
MODES = (LEGACY, SEP_2026)
# The mode a FakeUpstream speaks unless told otherwise: the site as it is now. The tests' session
# fake can be switched with QWENFREE_FAKE_MODE=legacy (read by tests/conftest.py only).
DEFAULT_MODE = SEP_2026

REFRESH = "/api/v2/auths/refresh"
PUNISH_URL = "https://chat.qwen.ai/_____tmd_____/punish?x5secdata=fake&x5step=1"
REVOKED = "令牌已撤销，请重新登录"
WRONG_PASSWORD = "The email or password provided is incorrect. Please check and try again."

# The business code behind each real status, for failures the fake makes up itself.
CODE_STATUS = {
    "Unauthorized": 401,
    "Not_Found": 404,
    "CHAT_NOT_FOUND": 404,
    "RateLimited": 429,
    "ParallelLimited": 429,
    "Too_Many_Requests": 429,
    "internal_error": 500,
}
STATUS_CODE = {401: "Unauthorized", 403: "Forbidden", 404: "Not_Found", 429: "RateLimited"}


@dataclasses.dataclass(frozen=True)
class Want:
    """What this request's headers must say, derived from the request itself."""

    origin: str
    referer: str
    referer_exact: bool
    chrome: str | None  # the Chrome major version in the User-Agent
    platform: str | None
    has_body: bool
    fresh_id: Callable[[str], bool]


def _chrome(ua: str | None) -> str | None:
    found = re.search(r"\bChrome/(\d+)\.", ua or "")
    return found[1] if found and "Mobile" not in (ua or "") else None


def _platform(ua: str | None) -> str | None:
    for marker, name in (("Windows NT", "Windows"), ("Macintosh", "macOS"), ("CrOS", "Chrome OS")):
        if marker in (ua or ""):
            return name
    return "Linux" if "Linux" in (ua or "") or "X11" in (ua or "") else None


def _brands_ok(value: str, want: Want) -> bool:
    brands = dict(re.findall(r'"([^"]+)"\s*;\s*v="(\d+)"', value))
    chromium = {k: v for k, v in brands.items() if k in ("Google Chrome", "Chromium")}
    return bool(chromium) and want.chrome is not None and set(chromium.values()) == {want.chrome}


def _uuid_fresh(value: str, want: Want) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return want.fresh_id(value)


# The browser's own fetch() headers (§16.1): (header, what it must be, check of a present value).
# A missing header fails too, except content-type on a request without a body.
GATE: tuple[tuple[str, str, Callable[[str, Want], bool]], ...] = (
    ("accept", "application/json (also on completions)", lambda v, w: v == "application/json"),
    ("content-type", "application/json on a request with a body",
     lambda v, w: v.split(";")[0].strip() == "application/json"),
    ("user-agent", "a desktop Chrome (…Chrome/<major>.…)", lambda v, w: w.chrome is not None),
    ("sec-ch-ua", 'Chrome/Chromium brands with v="<the User-Agent\'s major>"', _brands_ok),
    ("sec-ch-ua-mobile", "?0 (desktop)", lambda v, w: v == "?0"),
    ("sec-ch-ua-platform", "the User-Agent's platform, quoted",
     lambda v, w: w.platform is not None and v == f'"{w.platform}"'),
    ("sec-fetch-dest", "empty", lambda v, w: v == "empty"),
    ("sec-fetch-mode", "cors", lambda v, w: v == "cors"),
    ("sec-fetch-site", "same-origin", lambda v, w: v == "same-origin"),
    ("x-accel-buffering", "no", lambda v, w: v == "no"),
    ("timezone", "ASCII, like Date().toString() without the zone name",
     lambda v, w: bool(v.strip()) and v.isascii()),
    ("x-request-id", "a UUID, new per request", _uuid_fresh),
    ("source", "web", lambda v, w: v == "web"),
    ("origin", "{origin}", lambda v, w: v == w.origin),
    # <origin>/c/new-chat to create a chat, <origin>/c/<chat_id> for that chat, else a site page
    ("referer", "{referer}", lambda v, w: v == w.referer if w.referer_exact else v.startswith(w.referer)),
)  # fmt: skip
FORBIDDEN_PREFIX = "bx-"  # the browser sends none since 2026-09; stale bx-v triggers the WAF

# Write endpoints answer Bad_Request without a `version` header (S1 §2.3); chats/new does not.
VERSION_FREE = ("/api/v2/chats/new",)


def referer_for(req: Recorded, origin: str) -> tuple[str, bool]:
    """The Referer the browser sends for this call, and whether it must match exactly."""
    if req.method == "POST" and req.path == "/api/v2/chats/new":
        return origin + "/c/new-chat", True
    if req.path == COMPLETIONS and req.query.get("chat_id"):
        return f"{origin}/c/{req.query['chat_id']}", True
    about = re.fullmatch(r"/api/v2/chats/([^/]+)", req.path)
    if about and req.method in ("GET", "DELETE") and about[1] != "new":
        return f"{origin}/c/{about[1]}", True
    return origin + "/", False


def gate_problems(req: Recorded, origin: str, fresh_id: Callable[[str], bool]) -> list[str]:
    """Why the WAF would punish this request (empty: it passes)."""
    ua = req.headers.get("user-agent")
    referer, exact = referer_for(req, origin)
    want = Want(origin, referer, exact, _chrome(ua), _platform(ua), bool(req.body), fresh_id)
    problems = []
    for name, text, ok in GATE:
        shown = referer if exact else f"a page under {referer}"
        rule = text.format(origin=origin, referer=shown)
        value = req.headers.get(name)
        if value is None:
            if name != "content-type" or want.has_body:
                problems.append(f"{name}: missing (want {rule})")
        elif not ok(value, want):
            problems.append(f"{name}: {value!r} (want {rule})")
    problems += [
        f"{k}: sent (no bx-* header)" for k in req.headers if k.startswith(FORBIDDEN_PREFIX)
    ]
    return problems


def needs_version(req: Recorded) -> bool:
    return req.method in ("POST", "PUT", "DELETE", "PATCH") and req.path not in VERSION_FREE


def punish() -> Script:
    """The slider-captcha punish answer (HTTP 200, JSON, no x-actual-status-code)."""
    ret = ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"]
    return _json(200, {"ret": ret, "data": {"url": PUNISH_URL}})


def envelope(code: str, details: str, **extra: Any) -> dict[str, Any]:
    return {
        "success": False,
        "request_id": _uid(),
        "data": {"code": code, "details": details, **extra},
    }


def site_error(status: int, code: str, details: str, **extra: Any) -> Script:
    """A 2026-09 failure: HTTP 200 on the wire, the real status in ``x-actual-status-code``."""
    headers = {"x-actual-status-code": str(status)}
    return _json(200, envelope(code, details, **extra), headers=headers)


def _as_envelope(status: int, body: Any) -> dict[str, Any]:
    if isinstance(body, dict) and body.get("success") is False:
        return body
    detail = body.get("detail") if isinstance(body, dict) else None
    code = STATUS_CODE.get(status, "Bad_Request")
    text = detail if isinstance(detail, str) else {401: "invalid token"}.get(status, code)
    return envelope(code, text)


def dress(script: Script, cookies: list[str]) -> Script:
    """Give an answer the 2026-09 wire shape: a JSON failure becomes HTTP 200 with the real status
    in ``x-actual-status-code`` (every JSON and SSE answer carries that header); add cookies.
    Pages (HTML, XML), 5xx and the punish JSON pass as they are: the WAF or the proxy sent them."""
    headers: dict[str, Any] = dict(script.headers or {})
    if cookies:
        given = headers.get("Set-Cookie") or []
        headers["Set-Cookie"] = (given if isinstance(given, list) else [given]) + cookies
    status, body = script.status, script.body
    if any(k.lower() == "x-actual-status-code" for k in headers):
        return dataclasses.replace(script, headers=headers)
    json_body = "json" in script.content_type
    if body is None and script.status == 200:
        headers["x-actual-status-code"] = "200"
    elif json_body and body is not None and status < 500:
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and "ret" in parsed:
            return dataclasses.replace(script, headers=headers)
        actual = status
        if status >= 400:
            parsed, status = _as_envelope(status, parsed), 200
            body = json.dumps(parsed, ensure_ascii=False, separators=(",", ":")).encode()
        elif isinstance(parsed, dict) and parsed.get("success") is False:
            code = (
                (parsed.get("data") or {}).get("code")
                if isinstance(parsed.get("data"), dict)
                else None
            )
            actual = CODE_STATUS.get(str(code), 400)
        headers["x-actual-status-code"] = str(actual)
    return dataclasses.replace(script, headers=headers, status=status, body=body)
