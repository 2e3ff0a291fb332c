"""What the fake chat.qwen.ai remembers: requests, chats, files, video tasks, models, tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from .frames import Script, _now, _uid
from .scripts import http_error


@dataclass(frozen=True)
class Recorded:
    """One request as received (query keeps the first value of each key; header keys lower-case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any


@dataclass
class Chat:
    """A server-side chat; ``nodes`` maps message ids (user and assistant) to message dicts."""

    id: str
    title: str = "New Chat"
    chat_type: str = "t2t"
    models: list[str] = field(default_factory=list)
    created_at: int = field(default_factory=_now)
    updated_at: int = field(default_factory=_now)
    deleted: bool = False
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    creator: str = ""  # the Authorization header of the request that created it

    def response_ids(self) -> list[str]:
        return [k for k, node in self.nodes.items() if node["role"] == "assistant"]

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
            "chat_type": self.chat_type,
        }


@dataclass
class _Ctx:
    """Per-response state while a script is written."""

    chat: Chat | None
    user_id: str
    response_id: str
    model: str
    release: threading.Event
    gen: int


class _Aborted(Exception):
    """reset() or stop() asked a handler to give up."""


# An endpoint's answer: a Script, plus the request context when it streams a completion.
_Reply = Script | tuple[Script, _Ctx]

BUCKET = "qwen-webui-prod"


@dataclass
class StoredFile:
    """A file the fake issued upload credentials for; ``data`` is set by a correctly signed PUT.

    ``parse`` is None until a document parse is requested, then pending/success/failed.
    """

    id: str
    owner: str  # the token that asked for the credentials
    name: str
    size: int
    filetype: str
    key: str  # the object key, "<user id>/<file id>_<name>"
    url: str
    key_id: str = field(default_factory=lambda: "STS.fake" + uuid.uuid4().hex[:16])
    secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    security_token: str = field(default_factory=lambda: "CAIS" + uuid.uuid4().hex)
    data: bytes | None = None
    content_type: str = ""
    parse: str | None = None
    pending: int = 0


@dataclass
class VideoTask:
    """A t2v task: ``polls`` more status checks say running, then ``outcome``."""

    id: str
    owner: str
    prompt: str
    size: str | None
    polls: int
    outcome: str


def _is_video(body: dict[str, Any]) -> bool:
    msgs = body.get("messages")
    first = msgs[0] if isinstance(msgs, list) and msgs and isinstance(msgs[0], dict) else {}
    return first.get("chat_type") == "t2v"


def oss_signature(secret: str, req: Recorded, resource: str) -> str:
    """The OSS V1 signature a PUT must carry (the fake's own rendering of Aliyun's recipe)."""
    h = req.headers
    lines = [req.method, h.get("content-md5", ""), h.get("content-type", ""), h.get("date", "")]
    lines += [f"{k}:{v.strip()}" for k, v in sorted(h.items()) if k.startswith("x-oss-")]
    lines.append(resource)
    mac = hmac.new(secret.encode(), "\n".join(lines).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _oss_error(status: int, code: str, message: str) -> Script:
    body = f'<?xml version="1.0"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return http_error(status, body.encode(), "application/xml")


# id, display name, thinking, vision (+document, video), think_skip.enable, chat types, context.
# think_skip False (qwen3.8) means thinking is mandatory: thinking_enabled=false is rejected.
_MODEL_TABLE = [
    ("qwen3-max", "Qwen3-Max", True, False, True, "t2t search t2i", 262144),
    ("qwen3.7-plus", "Qwen3.7-Plus", True, True, True, "t2t search t2i t2v image_edit", 1000000),
    ("qwen3-coder-plus", "Qwen3-Coder", False, False, True, "t2t", 1048576),
    ("qwen3.8-max-preview", "Qwen3.8-Max-Preview", True, False, False, "t2t search", 262144),
]

# 2026-09: no qwen3-max any more (ids rotate, §6.1); the flagship comes first.
_MODEL_TABLE_2026 = [
    ("qwen3.8-plus", "Qwen3.8-Plus", True, True, True, "t2t search t2i t2v image_edit", 1000000),
    ("qwen3.7-plus", "Qwen3.7-Plus", True, True, True, "t2t search t2i t2v image_edit", 1000000),
    ("qwen3-coder-plus", "Qwen3-Coder", False, False, True, "t2t", 1048576),
    ("qwen3.8-max-preview", "Qwen3.8-Max-Preview", True, False, False, "t2t search", 262144),
]


def _model(
    mid: str, name: str, thinking: bool, vision: bool, skip: bool, types: str, context: int
) -> dict[str, Any]:
    caps = {"vision": vision, "document": vision, "video": vision, "audio": False}
    caps |= {"citations": True, "thinking": thinking, "thinking_budget": thinking}
    meta = {
        "short_description": f"{name} (fake)",
        "max_context_length": context,
        "max_generation_length": 32768,
        "max_thinking_generation_length": 81920 if thinking else 0,
        "capabilities": caps,
        "abilities": {k: int(v) for k, v in caps.items()} | {"mcp": 1},
        "chat_type": types.split(),
        "modality": ["text", "image"] if vision else ["text"],
        "think_skip": {"enable": skip},
    }
    info = {"id": mid, "name": name, "is_active": True, "created_at": 1780000000, "meta": meta}
    return {"id": mid, "name": name, "object": "model", "owned_by": "qwen", "info": info}


def default_models(mode: str = "legacy") -> list[dict[str, Any]]:
    """Return a fresh copy of the fake's model list for a mode (tests may edit it)."""
    return [_model(*row) for row in (_MODEL_TABLE if mode == "legacy" else _MODEL_TABLE_2026)]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(
    user_id: str | None = None, exp: int | None = None, *, now: float | None = None, **claims: Any
) -> str:
    """Make a JWT-shaped token: payload {id, last_password_change, exp, **claims}, fake HS256
    signature (checked by the 2026-09 mode: an edited token is an "invalid token")."""
    at = int(now if now is not None else _now())
    head = _b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = {
        "id": user_id or _uid(),
        "last_password_change": at - 86400,
        "exp": exp or at + 30 * 86400,
    } | claims
    body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    return f"{head}.{body}.{_signature(head, body)}"


def _signature(head: str, body: str) -> str:
    return _b64url(hashlib.sha256((head + body).encode()).digest())


def jwt_signed(token: str) -> bool:
    """Whether a three-part token carries the fake's own signature."""
    head, _, rest = token.partition(".")
    body, _, signature = rest.partition(".")
    return hmac.compare_digest(signature, _signature(head, body))


def user_of(token: str) -> str:
    """The account a token belongs to: its JWT ``id``, or a stable id for an opaque token."""
    return str((_jwt_payload(token) or {}).get("id") or uuid.uuid5(uuid.NAMESPACE_URL, token))


def account_id(email: str) -> str:
    """The user id the fake gives an email's account."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "fake-qwen:" + email))


@dataclass
class RefreshToken:
    """One refresh token; a family is one sign-in session (revoking one revokes them all)."""

    user_id: str
    email: str
    family: str
    expires: float
    state: str = "live"  # live | rotated | revoked
    successor: str | None = None
    rotated_at: float = 0.0


def _jwt_payload(token: str) -> dict[str, Any] | None:
    try:
        part = token.split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _user(user_id: str, email: str) -> dict[str, Any]:
    return {"id": user_id, "email": email, "name": email.split("@")[0], "role": "user"}
