"""The Anthropic model objects of ``GET /v1/models`` and ``/v1/models/{id}`` (the OpenAI
blueprint serves the path; ``anthropic-version`` picks this shape). Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qwenfree.catalog import ModelInfo
from qwenfree.dialects.common import model_by_alias


def encode_model(m: ModelInfo, requested: str) -> dict[str, Any]:
    """``GET /v1/models/{id}`` in Anthropic's shape, under the name that was asked for."""
    return {
        "type": "model",
        "id": requested,
        "display_name": m.name,
        "created_at": "1970-01-01T00:00:00Z",
    }


def encode_models(models: Sequence[ModelInfo]) -> dict[str, Any]:
    """``GET /v1/models`` in Anthropic's shape (chosen when ``anthropic-version`` is sent)."""
    data = [encode_model(m, variant) for m in models for variant in m.variants()]
    first = data[0]["id"] if data else None
    last = data[-1]["id"] if data else None
    return {"data": data, "has_more": False, "first_id": first, "last_id": last}


describe_model = model_by_alias(encode_model)  # Claude Code may ask for claude-* names
