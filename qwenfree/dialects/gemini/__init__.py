"""Gemini API routes (gemini-cli, google-genai) under /v1beta and /v1: thin views.

Model methods arrive as ``models/{model}:{method}``: Flask matches ``<path:name>`` and the view
splits on the last ``:``. ``GET /v1/models`` and ``GET /v1/models/{id}`` belong to the OpenAI
blueprint, which answers in Gemini's shape when the request carries Google's headers
(google-genai calls ``/v1`` by default, gemini-cli ``/v1beta``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, g, request

from qwenfree import errors, heartbeats, meter, web
from qwenfree.accumulate import accumulate
from qwenfree.conversation import GenerationParams
from qwenfree.dialects.gemini import translate
from qwenfree.dialects.gemini.schemas import CountTokensSchema, GenerateContentSchema, camelize

bp = Blueprint("gemini", __name__)
DIALECT = translate.DIALECT


def caller_tokens() -> list[str]:
    """Upstream tokens from ``x-goog-api-key``, ``?key=`` or ``Authorization: Bearer``."""
    raw = request.headers.get("x-goog-api-key") or request.args.get("key") or ""
    return web.split_credentials(raw) or web.bearer_tokens()


@bp.get("/v1beta/models")
def list_models() -> Response:
    """List the Qwen models (and their mode variants) as Gemini Model resources."""
    tokens = caller_tokens()
    models, _ = web.state().service.catalog.models(tokens[0] if tokens else None)
    return web.json_response(DIALECT.encode_models(models))


@bp.get("/v1beta/models/<path:name>")
def get_model(name: str) -> Response:
    """Describe one model; Gemini names such as ``gemini-2.5-flash`` resolve to their Qwen model."""
    tokens = caller_tokens()
    catalog = web.state().service.catalog
    return web.json_response(DIALECT.describe_model(catalog, name, tokens[0] if tokens else None))


@bp.post("/v1beta/models/<path:name>")
@bp.post("/v1/models/<path:name>")
def model_method(name: str) -> Response:
    """Call a model method: ``:generateContent``, ``:streamGenerateContent`` (``?alt=sse``),
    ``:countTokens``; ``:embedContent`` and ``:batchEmbedContents`` answer 501."""
    model, sep, method = name.removeprefix("models/").rpartition(":")
    handler = METHODS.get(method) if sep else None
    if handler is None:
        raise errors.NotFound(f"No method '{method or name}' on models; try generateContent")
    return handler(model)


def generate(model: str) -> Response:
    return _generate(model, stream=False)


def stream_generate(model: str) -> Response:
    return _generate(model, stream=True)


def _generate(model: str, *, stream: bool) -> Response:
    st = web.state()
    tokens = caller_tokens()
    if not tokens:
        raise errors.Unauthorized(
            "Send your chat.qwen.ai token as the API key ('x-goog-api-key', '?key=' or "
            "'Authorization: Bearer')"
        )
    payload = web.load_or_raise(GenerateContentSchema, _camelized_body())
    payload |= {"model": model or "default", "stream": stream}
    conversation, params = DIALECT.to_conversation(payload)
    web.pause()
    events = st.service.stream(conversation, params, tokens, meter.current())
    if not stream:
        return web.json_response(DIALECT.encode_completion(accumulate(events), params))
    if request.args.get("alt") == "sse":
        return web.stream_response(events, DIALECT, params)
    try:  # Google's JSON-array streaming
        return web.json_response(_chunk_list(events, params))
    except heartbeats.ClientLeft:  # nobody reads this: the log says why it ended
        g.error_kind = "client_disconnected"
        return Response(status=499)


def _chunk_list(events: Iterator[Any], params: GenerationParams) -> list[Any]:
    """Every response chunk, for ``streamGenerateContent`` without ``alt=sse``; ends early
    if the client hangs up meanwhile (``heartbeats.watched_whole``)."""
    events = iter(events)
    interval = web.state().settings.heartbeat_interval
    try:
        watched = heartbeats.watched_whole(events, request.environ, interval)
        # Text chunks come serialised for SSE (sse.Template); the array wants them whole.
        chunks = (message.data for message in DIALECT.encode_events(watched, params))
        return [json.loads(c) if isinstance(c, str) else c for c in chunks]
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _camelized_body() -> Any:
    body = camelize(web.json_body())
    web.pause()
    return body


def count_tokens(model: str) -> Response:
    """``{"totalTokens": N}`` for ``contents`` or a whole ``generateContentRequest``."""
    body = web.load_or_raise(CountTokensSchema, _camelized_body())
    inner = body.get("generateContentRequest")
    if inner is not None:
        payload = web.load_or_raise(GenerateContentSchema, inner)
    elif body.get("contents"):
        payload = {"contents": body["contents"]}
    else:
        raise errors.InvalidRequest(
            "countTokens needs 'contents' or 'generateContentRequest'", param="contents"
        )
    conversation, params = DIALECT.to_conversation(payload | {"model": model})
    total = web.state().service.count_tokens(conversation, params)
    return web.json_response(DIALECT.encode_token_count(total))


def embed(model: str) -> Response:
    raise errors.Unimplemented(
        "Embeddings are not available: chat.qwen.ai has no embedding models "
        f"(asked for '{model}'). Use a dedicated embedding service."
    )


METHODS: dict[str, Callable[[str], Response]] = {
    "generateContent": generate,
    "streamGenerateContent": stream_generate,
    "countTokens": count_tokens,
    "embedContent": embed,
    "batchEmbedContents": embed,
}
