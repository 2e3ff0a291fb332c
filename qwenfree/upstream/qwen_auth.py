"""chat.qwen.ai's sign-in and token refresh (upstream-chat-qwen-ai.md §16.3, §16.4).

* Refresh: ``GET <auth host>/api/v2/auths/refresh`` with ``Cookie: refresh_token=…`` and the
  browser's headers plus ``x-request-origin``; the answer carries ``access_token`` (and maybe a
  rotated ``refresh_token``) in its body and in ``Set-Cookie``.
* Sign-in: ``POST /api/v2/auths/signin`` answers the account record in the body and the token
  only in ``Set-Cookie``; the older ``/api/v1/auths/signin`` (token in the body) is the fallback
  when v2 is missing. The password travels as SHA-256 hex, as the web app sends it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qwenfree import errors
from qwenfree.upstream.accounts import jwt_exp
from qwenfree.upstream.client import UpstreamClient
from qwenfree.upstream.cookies import parse_header
from qwenfree.upstream.qwen import REFRESH_PATH

SIGNIN_V2 = "/api/v2/auths/signin"
SIGNIN_V1 = "/api/v1/auths/signin"


@dataclass(frozen=True)
class Tokens:
    access: str = field(repr=False)
    refresh: str | None = field(default=None, repr=False)
    exp: float | None = None


def refresh(client: UpstreamClient, auth_url: str, refresh_token: str) -> Tokens:
    """Trade a refresh token for a new access token (and maybe a rotated refresh token)."""
    body, cookies = client.call(
        "GET", REFRESH_PATH, None, base=auth_url, cookies=f"refresh_token={refresh_token}"
    )
    data = _data(body)
    set_ = _set_cookies(cookies)
    access = _text(data.get("access_token")) or _text(data.get("token")) or set_.get("token")
    if not access:
        raise errors.UpstreamProtocolError("chat.qwen.ai refreshed without an access token")
    rotated = _text(data.get("refresh_token")) or set_.get("refresh_token")
    return Tokens(access, rotated, _expiry(data, access))


def sign_in(client: UpstreamClient, email: str, password: str) -> Tokens:
    """Sign in with v2 (token in ``Set-Cookie``), falling back to v1 where v2 is missing."""
    digest = hashlib.sha256(password.encode()).hexdigest()
    form = {"email": email, "password": digest}
    try:
        body, cookies = client.call("POST", SIGNIN_V2, None, form)
    except (errors.ChatNotFound, errors.UpstreamRejected) as err:
        if not _missing(err):
            raise
        body, cookies = client.call("POST", SIGNIN_V1, None, form)
    data = _data(body)
    set_ = _set_cookies(cookies)
    token = set_.get("token") or _text(data.get("token")) or _text(data.get("access_token"))
    if not token:
        raise errors.UpstreamProtocolError("chat.qwen.ai signed in without returning a token")
    return Tokens(
        token, set_.get("refresh_token") or _text(data.get("refresh_token")), jwt_exp(token)
    )


def _missing(err: errors.QwenfreeError) -> bool:
    """Does this failure mean "no such endpoint" (so the older one is worth a try)?"""
    text = err.message.lower()
    return isinstance(err, errors.ChatNotFound) or "404" in text or "not found" in text


def _data(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        return {}
    inner = body.get("data")
    return inner if isinstance(inner, Mapping) else body


def _set_cookies(lines: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        first = line.split(";", 1)[0]
        found.update({k: v for k, v in parse_header(first).items() if v})
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _expiry(data: Mapping[str, Any], access: str) -> float | None:
    exp = jwt_exp(access)
    if exp is not None:
        return exp
    raw = data.get("expires_at")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw) / 1000 if raw > 1e11 else float(raw)  # ms or s
    return None
