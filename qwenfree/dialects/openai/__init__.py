"""OpenAI-compatible routes: thin views over the chat service."""

from __future__ import annotations

from flask import Blueprint, Response

from qwenfree import web
from qwenfree.accumulate import accumulate
from qwenfree.dialects.openai import translate
from qwenfree.dialects.openai.schemas import ChatCompletionSchema

bp = Blueprint("openai", __name__, url_prefix="/v1")
DIALECT = translate.DIALECT


@bp.post("/chat/completions")
def chat_completions() -> Response:
    st = web.state()
    payload = web.load_or_raise(ChatCompletionSchema, web.json_body())
    payload["model"] = payload.get("model") or "default"
    conversation, params = DIALECT.to_conversation(payload)
    web.pause()
    events = st.service.stream(conversation, params, web.bearer_tokens())
    if params.stream:
        return web.stream_response(events, DIALECT, params)
    return web.json_response(DIALECT.encode_completion(accumulate(events), params))


@bp.get("/models")
def list_models() -> Response:
    """Every model, in the shape of the dialect the request's headers name: the Anthropic and
    Gemini SDKs call this path too."""
    tokens = web.bearer_tokens()
    models, _ = web.state().service.catalog.models(tokens[0] if tokens else None)
    return web.json_response(web.dialect_for_request().encode_models(models))


@bp.get("/models/<path:model_id>")
def get_model(model_id: str) -> Response:
    tokens = web.bearer_tokens()
    token = tokens[0] if tokens else None
    dialect = web.dialect_for_request()  # google-genai and the anthropic SDK use this path
    return web.json_response(dialect.describe_model(web.state().service.catalog, model_id, token))
