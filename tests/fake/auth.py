"""Credentials of the fake chat.qwen.ai: tokens, sign-in v1/v2, refresh, cookies (§4, §16.3-4)."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from . import site
from .frames import Script, _uid
from .scripts import _json
from .state import (
    Recorded,
    RefreshToken,
    _jwt_payload,
    _user,
    account_id,
    jwt_signed,
    mint_token,
    user_of,
)


def cookies_of(req: Recorded) -> dict[str, str]:
    """The request's cookies by name (the last one wins, as in a browser's jar)."""
    found = {}
    for part in req.headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            found[key] = value
    return found


class AuthMixin:
    """Who is asking, and whether the site lets them; mixed into FakeUpstream."""

    # -- access tokens

    @staticmethod
    def _token(req: Recorded) -> str | None:
        auth = req.headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and auth[7:].strip():
            return auth[7:].strip()
        for part in req.headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == "token" and value:
                return value
        return None

    def _token_ok(self, token: str | None) -> bool:
        if not token:
            return False
        if self.valid_tokens is not None:
            return token in self.valid_tokens
        exp = (_jwt_payload(token) or {}).get("exp")
        return not token.startswith(("bad", "expired")) and not (
            isinstance(exp, int) and exp < int(self.now())
        )

    def _token_problem(self, token: str | None) -> str | None:
        """2026-09: why the site rejects an access token (None: it accepts it). Opaque tokens
        pass unless they start with "bad"/"expired"; a JWT must carry the fake's signature, not
        be a refresh token, and not be past its ``exp`` on the fake's clock."""
        if not token:
            return "invalid token"
        if self.valid_tokens is not None:
            return None if token in self.valid_tokens else "invalid token"
        if token.startswith("expired"):
            return "token has expired"
        if token.startswith("bad"):
            return "invalid token"
        payload = _jwt_payload(token) if token.count(".") == 2 else None
        if payload is None:
            return None
        if not jwt_signed(token) or payload.get("type") == "refresh_token":
            return "invalid token"
        exp = payload.get("exp")
        return "token has expired" if isinstance(exp, int | float) and exp <= self.now() else None

    def _mint_access(self, user_id: str, email: str, ttl: int | None = None) -> str:
        exp = int(self.now()) + (ttl if ttl is not None else self.access_ttl)
        token = mint_token(user_id, exp, now=self.now(), type="access_token", jti=_uid())
        with self._lock:
            self._emails[token] = email
            if self.valid_tokens is not None:
                self.valid_tokens.add(token)
        return token

    # -- sign-in

    def _signin_blocked(self) -> Script | None:
        """The IP-level sign-in limit (§16.4): the WAF page past signin_limit per window."""
        if self.signin_limit is None:
            return None
        now = self.now()
        with self._lock:
            while self._signins and self._signins[0] <= now - self.signin_window:
                self._signins.popleft()
            if len(self._signins) >= self.signin_limit:
                return self.signin_limit_page
            self._signins.append(now)
        return None

    def _credentials_ok(self, req: Recorded) -> str | None:
        """The email whose password (sha256 hex) the request carries, else None."""
        body = req.json if isinstance(req.json, dict) else {}
        email, password = str(body.get("email")), body.get("password")
        plain = self.accounts.get(email)
        if plain is None or password != hashlib.sha256(plain.encode()).hexdigest():
            return None
        return email

    def _signin(self, req: Recorded, m: re.Match[str]) -> Script:
        """v1: the token in the body (and a token cookie)."""
        if self.modern and not self.v1_signin:
            return self._not_found()
        blocked = self._signin_blocked()
        if blocked is not None:
            return blocked
        email = self._credentials_ok(req)
        if email is None:
            return _json(400, {"detail": "incorrect"})
        user_id = account_id(email)
        if self.modern:
            token = self._mint_access(user_id, email, self.signin_ttl)
        else:
            token = mint_token(user_id)
            with self._lock:
                self._emails[token] = email
                if self.valid_tokens is not None:
                    self.valid_tokens.add(token)
        cookie = {"Set-Cookie": f"token={token}; Path=/; HttpOnly; SameSite=Lax"}
        signed_in = _user(user_id, email) | {"token": token, "token_type": "Bearer"}
        return _json(200, signed_in, headers=cookie)

    def _signin_v2(self, req: Recorded, m: re.Match[str]) -> Script:
        """v2 (§16.4): the account record in the body, the tokens only in Set-Cookie."""
        if not self.v2_signin:
            return self._not_found()
        blocked = self._signin_blocked()
        if blocked is not None:
            return blocked
        email = self._credentials_ok(req)
        if email is None:
            return site.site_error(400, "Bad_Request", site.WRONG_PASSWORD)
        user_id = account_id(email)
        token = self._mint_access(user_id, email, self.signin_ttl)
        refresh = self.issue_refresh_token(email)
        record = _user(user_id, email) | {"profile_image_url": "/user.png"}
        body = {"success": True, "request_id": _uid(), "data": record}
        return _json(200, body, headers={"Set-Cookie": self._token_cookies(token, refresh)})

    def _token_cookies(self, access: str, refresh: str) -> list[str]:
        return [
            f"token={access}; Path=/; Max-Age={self.access_ttl}; HttpOnly; SameSite=Lax",
            f"refresh_token={refresh}; Path=/; Max-Age={self.refresh_ttl}; HttpOnly",
        ]

    def _me(self, req: Recorded, m: re.Match[str]) -> Script:
        token = self._token(req) or ""
        email = self._emails.get(token, "user@example.com")
        return _json(200, _user(user_of(token), email))

    # -- refresh tokens (auth.qwen.ai, served here too)

    def issue_refresh_token(
        self, email: str = "demo@example.com", family: str | None = None
    ) -> str:
        """A live refresh token for ``email``'s account (a new session unless ``family``)."""
        user_id = account_id(email)
        expires = self.now() + self.refresh_ttl
        token = mint_token(user_id, int(expires), now=self.now(), type="refresh_token", jti=_uid())
        with self._lock:
            self.refresh_tokens[token] = RefreshToken(user_id, email, family or _uid(), expires)
        return token

    def revoke(self, refresh_token: str) -> None:
        """Revoke the session a refresh token belongs to (every token of its family)."""
        with self._lock:
            found = self.refresh_tokens.get(refresh_token)
            for record in self.refresh_tokens.values():
                if found is not None and record.family == found.family:
                    record.state = "revoked"

    def _refresh(self, req: Recorded, m: re.Match[str]) -> Script:
        """``GET /api/v2/auths/refresh`` with ``Cookie: refresh_token=`` (§16.3)."""
        with self._lock:
            self.refresh_calls += 1
        h = req.headers
        origin = self.origin or "http://" + h.get("host", "")
        if not h.get("x-request-origin"):
            return site.site_error(400, "Bad_Request", "Missing origin")
        if h["x-request-origin"] != origin:
            return site.site_error(403, "Forbidden", "Invalid origin")
        if not all(h.get(k) for k in ("x-request-id", "timezone", "source", "version")):
            return site.site_error(400, "Bad_Request", "Invalid request header")
        presented = cookies_of(req).get("refresh_token", "")
        with self._lock:
            record = self.refresh_tokens.get(presented)
            problem, successor = self._use_refresh(presented, record)
        if problem:
            return site.site_error(401, "Unauthorized", problem)
        assert record is not None
        access = self._mint_access(record.user_id, record.email)
        data = {"access_token": access, "refresh_token": successor, "expires_at": self._exp(access)}
        body = {"success": True, "request_id": _uid(), "data": data}
        return _json(200, body, headers={"Set-Cookie": self._token_cookies(access, successor)})

    def _use_refresh(self, token: str, record: RefreshToken | None) -> tuple[str | None, str]:
        """(why it is refused, the refresh token to hand out); called with the lock held.
        With rotate_refresh a used token stays good for rotate_grace seconds (concurrent
        refreshes get the same successor); reused later, it revokes its whole session."""
        now = self.now()
        if record is None:
            return "invalid token", ""
        if record.state == "revoked":
            return site.REVOKED, ""
        if record.expires <= now:
            return "token has expired", ""
        if record.state == "rotated":
            if now - record.rotated_at <= self.rotate_grace and record.successor:
                return None, record.successor
            for other in self.refresh_tokens.values():
                if other.family == record.family:
                    other.state = "revoked"
            return site.REVOKED, ""
        if not self.rotate_refresh:
            return None, token
        expires = now + self.refresh_ttl
        new = mint_token(record.user_id, int(expires), now=now, type="refresh_token", jti=_uid())
        self.refresh_tokens[new] = RefreshToken(
            record.user_id, record.email, record.family, expires
        )
        record.state, record.successor, record.rotated_at = "rotated", new, now
        return None, new

    @staticmethod
    def _exp(token: str) -> int:
        return int((_jwt_payload(token) or {}).get("exp") or 0)

    # -- cookies (§16.1: the browser keeps a jar; the fake records whether the client does)

    def _cookie_owner(self, req: Recorded) -> str | None:
        token = self._token(req)
        return user_of(token) if token else None

    def _note_cookies(self, req: Recorded) -> None:
        owner = self._cookie_owner(req)
        jar = self.cookies_set.get(owner or "")
        if not jar:
            return
        sent = cookies_of(req)
        with self._lock:
            seen = self.cookies_seen.setdefault(owner or "", set())
            seen.update(name for name, value in jar.items() if sent.get(name) == value)

    def _cookies_for(self, req: Recorded) -> list[str]:
        """Set-Cookie lines for this answer: acw_tc always, x-ap once a chat was created."""
        owner = self._cookie_owner(req)
        if owner is None:
            return []
        sent = cookies_of(req)
        with self._lock:
            jar = self.cookies_set.setdefault(owner, {})
            jar.setdefault("acw_tc", "0a" + uuid.uuid4().hex)
            if req.path == "/api/v2/chats/new":
                jar.setdefault("x-ap", "ap-southeast-1." + uuid.uuid4().hex[:12])
            lines = {
                "acw_tc": "acw_tc={}; Path=/; Max-Age=1800; HttpOnly",
                "x-ap": "x-ap={}; Path=/; Max-Age=31536000",
            }
            return [lines[k].format(v) for k, v in jar.items() if sent.get(k) != v]

    def _jar_problems(self, req: Recorded) -> list[str]:
        """With require_cookies: a cookie the site set for this account must come back."""
        if not self.require_cookies:
            return []
        jar: dict[str, Any] = self.cookies_set.get(self._cookie_owner(req) or "", {})
        sent = cookies_of(req)
        return [f"cookie {k}: not sent back" for k, v in jar.items() if sent.get(k) != v]
