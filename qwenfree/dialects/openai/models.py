"""The OpenAI model objects of ``GET /v1/models`` and ``/v1/models/{id}``. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qwenfree import errors
from qwenfree.catalog import ModelCatalog, ModelInfo


def encode_model(m: ModelInfo, variant: str) -> dict[str, Any]:
    return {
        "id": variant,
        "object": "model",
        "created": m.created,
        "owned_by": "qwen",
        "upstream_id": m.id,
        "display_name": m.name,
        "context_length": m.context_length,
        "max_output_tokens": m.max_output,
        "capabilities": {
            "thinking": m.thinking,
            "thinking_required": m.thinking_required,
            "search": m.search,
            "vision": m.vision,
        },
    }


def encode_models(models: Sequence[ModelInfo]) -> dict[str, Any]:
    """Every model and mode variant."""
    data = [encode_model(m, variant) for m in models for variant in m.variants()]
    return {"object": "list", "data": data}


def describe_model(catalog: ModelCatalog, model_id: str, token: str | None) -> dict[str, Any]:
    """One listed variant by its id (any case); OpenAI clients use no aliases, so none apply."""
    models, _ = catalog.models(token)
    for m in models:
        for variant in m.variants():
            if variant.lower() == model_id.lower():
                return encode_model(m, variant)
    raise errors.ModelNotFound(f"The model '{model_id}' does not exist", param="model")
