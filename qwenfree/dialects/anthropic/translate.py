"""Anthropic Messages <-> the neutral model. Pure functions, no Flask."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qwenfree import errors
from qwenfree.catalog import ModelInfo
from qwenfree.sse import SSEMessage

# neutral error kind -> Anthropic error type; statuses may be refined (busy -> 529)
ERROR_TYPES = {
    "invalid_request": "invalid_request_error",
    "unauthorized": "authentication_error",
    "model_not_found": "not_found_error",
    "not_found": "not_found_error",
    "method_not_allowed": "invalid_request_error",
    "payload_too_large": "request_too_large",
    "rate_limited": "rate_limit_error",
    "upstream_rejected": "invalid_request_error",
    "content_filter": "invalid_request_error",
    "chat_not_found": "not_found_error",
    "no_token": "overloaded_error",
    "token_rejected": "overloaded_error",
}
STATUS_OVERRIDES = {"no_token": 529, "token_rejected": 529}


def error_body(err: errors.QwenfreeError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(err.kind, "api_error")
    return {"type": "error", "error": {"type": kind, "message": err.message}}


def encode_error(err: errors.QwenfreeError) -> tuple[int, dict[str, Any]]:
    """Status and body for an error raised before the response started."""
    return STATUS_OVERRIDES.get(err.kind, err.status), error_body(err)


def encode_stream_error(err: errors.QwenfreeError) -> SSEMessage:
    """``event: error`` for a stream that already started (no message_stop follows)."""
    return SSEMessage(data=error_body(err), event="error")


def encode_models(models: Sequence[ModelInfo]) -> dict[str, Any]:
    """``GET /v1/models`` in Anthropic's shape (chosen when ``anthropic-version`` is sent)."""
    data = [
        {
            "type": "model",
            "id": variant,
            "display_name": m.name,
            "created_at": "1970-01-01T00:00:00Z",
        }
        for m in models
        for variant in m.variants()
    ]
    first = data[0]["id"] if data else None
    last = data[-1]["id"] if data else None
    return {"data": data, "has_more": False, "first_id": first, "last_id": last}
