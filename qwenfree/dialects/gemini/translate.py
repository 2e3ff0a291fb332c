"""Gemini generateContent <-> the neutral model. Pure functions, no Flask."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qwenfree import errors
from qwenfree.catalog import ModelInfo
from qwenfree.sse import SSEMessage

# HTTP status -> google.rpc status name
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def error_body(err: errors.QwenfreeError) -> dict[str, Any]:
    status = STATUS_NAMES.get(err.status, "INTERNAL")
    return {"error": {"code": err.status, "message": err.message, "status": status}}


def encode_error(err: errors.QwenfreeError) -> tuple[int, dict[str, Any]]:
    """Status and google.rpc.Status body for an error raised before the response started."""
    return err.status, error_body(err)


def encode_stream_error(err: errors.QwenfreeError) -> SSEMessage:
    """A ``data: {"error": ...}`` frame; google-genai raises APIError on it."""
    return SSEMessage(data=error_body(err))


def encode_models(models: Sequence[ModelInfo]) -> dict[str, Any]:
    """``GET /v1beta/models`` in Gemini's shape."""
    return {
        "models": [
            {
                "name": f"models/{variant}",
                "baseModelId": m.id,
                "version": "001",
                "displayName": m.name,
                "description": f"{m.name} on chat.qwen.ai",
                "inputTokenLimit": m.context_length,
                "outputTokenLimit": m.max_output,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
                "thinking": m.thinking,
            }
            for m in models
            for variant in m.variants()
        ]
    }
