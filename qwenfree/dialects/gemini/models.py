"""The Gemini Model resources of ``GET /v1beta/models[/{name}]`` (and of ``/v1/models``, which
the OpenAI blueprint serves in this shape for Google's SDKs). Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qwenfree.catalog import ModelCatalog, ModelInfo
from qwenfree.dialects.common import model_by_alias

GENERATION_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]


def encode_model(m: ModelInfo, name: str) -> dict[str, Any]:
    """One Gemini Model resource for the model the caller knows as ``name``."""
    return {
        "name": f"models/{name}",
        "baseModelId": m.id,
        "version": "001",
        "displayName": m.name,
        "description": f"{m.name} on chat.qwen.ai",
        "inputTokenLimit": m.context_length,
        "outputTokenLimit": m.max_output,
        "supportedGenerationMethods": GENERATION_METHODS,
        "thinking": m.thinking,
    }


def encode_models(models: Sequence[ModelInfo]) -> dict[str, Any]:
    """``GET /v1beta/models`` in Gemini's shape: every model and mode variant."""
    return {"models": [encode_model(m, variant) for m in models for variant in m.variants()]}


def describe_model(catalog: ModelCatalog, name: str, token: str | None) -> dict[str, Any]:
    """google-genai may send the resource name (``models/gemini-2.5-flash``)."""
    return model_by_alias(encode_model)(catalog, name.removeprefix("models/"), token)
