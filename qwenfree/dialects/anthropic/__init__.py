"""Anthropic Messages routes (Claude Code, the anthropic SDK): thin views over the chat service.

Claude Code appends ``?beta=true``; routing is by path, so the query changes nothing.
``GET /v1/models`` and ``/v1/models/{id}`` belong to the OpenAI blueprint, which answers in
Anthropic's shape when the request carries ``anthropic-version``.
"""

from __future__ import annotations

from flask import Blueprint, Response

from qwenfree import web
from qwenfree.accumulate import accumulate
from qwenfree.dialects.anthropic import translate
from qwenfree.dialects.anthropic.schemas import CountTokensSchema, MessagesSchema

bp = Blueprint("anthropic", __name__, url_prefix="/v1")
DIALECT = translate.DIALECT


@bp.post("/messages")
def messages() -> Response:
    st = web.state()
    payload = web.load_or_raise(MessagesSchema, web.json_body())
    conversation, params = DIALECT.to_conversation(payload)
    web.pause()
    events = st.service.stream(conversation, params, web.bearer_tokens())
    if params.stream:
        return web.stream_response(events, DIALECT, params)
    return web.json_response(DIALECT.encode_completion(accumulate(events), params))


@bp.post("/messages/count_tokens")
def count_tokens() -> Response:
    """The prompt's size by the estimator the context check uses (``qwenfree/tokens.py``)."""
    st = web.state()
    payload = web.load_or_raise(CountTokensSchema, web.json_body())
    conversation, params = DIALECT.to_conversation(payload)
    web.pause()
    counted = st.service.count_tokens(conversation, params)
    return web.json_response(DIALECT.encode_token_count(counted))
