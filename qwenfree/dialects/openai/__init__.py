"""OpenAI-compatible routes: thin views over the chat service."""

from __future__ import annotations

from flask import Blueprint, Response

from qwenfree import errors, meter, web
from qwenfree.accumulate import accumulate
from qwenfree.catalog import ModelInfo
from qwenfree.dialects.openai import translate
from qwenfree.dialects.openai.schemas import ChatCompletionSchema

bp = Blueprint("openai", __name__, url_prefix="/v1")


@bp.post("/chat/completions")
def chat_completions() -> Response:
    st = web.state()
    payload = web.load_or_raise(ChatCompletionSchema, web.json_body())
    payload["model"] = payload.get("model") or "default"
    conversation, params = translate.to_conversation(payload)
    web.pause()
    events = st.service.stream(conversation, params, web.bearer_tokens(), meter.current())
    if params.stream:
        return web.stream_response(events, translate, params)
    return web.json_response(translate.encode_completion(accumulate(events), params))


@bp.get("/models")
def list_models() -> Response:
    tokens = web.bearer_tokens()
    models, _ = web.state().service.catalog.models(tokens[0] if tokens else None)
    dialect = web.dialect_for_request()
    if dialect is not translate:  # Anthropic and Gemini SDKs share this path
        return web.json_response(dialect.encode_models(models))
    data = [_model(m, variant) for m in models for variant in m.variants()]
    return web.json_response({"object": "list", "data": data})


@bp.get("/models/<path:model_id>")
def get_model(model_id: str) -> Response:
    tokens = web.bearer_tokens()
    dialect = web.dialect_for_request()
    if dialect is not translate and hasattr(dialect, "encode_model"):  # google-genai uses /v1
        resolved = web.state().service.catalog.resolve(model_id, tokens[0] if tokens else None)
        return web.json_response(dialect.encode_model(resolved.model, model_id))
    models, _ = web.state().service.catalog.models(tokens[0] if tokens else None)
    for m in models:
        for variant in m.variants():
            if variant.lower() == model_id.lower():
                return web.json_response(_model(m, variant))
    raise errors.ModelNotFound(f"The model '{model_id}' does not exist", param="model")


def _model(m: ModelInfo, variant: str) -> dict[str, object]:
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
