"""The stack's floor: the smallest gateway our stack allows, to compare qwenfree with.

Flask + one requests.Session + gunicorn's gevent worker (served with the same gunicorn.conf.py),
doing what qwenfree must (chats/new, then the streamed completion) but relaying the upstream
bytes untouched: no validation, translation, heartbeats, retries or logging. Whatever qwenfree
costs above this is its own code; this much is the price of the stack.

Serve: ``gunicorn -c gunicorn.conf.py 'bench.passthrough:create_app()'`` with
``QWENFREE_UPSTREAM_URL`` set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import requests
from flask import Flask, Response, current_app, request
from requests.adapters import HTTPAdapter

from bench.routes import MODEL
from qwenfree.upstream import qwen


def create_app() -> Flask:
    app = Flask(__name__)
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=4000, max_retries=0))
    app.extensions["bench"] = (os.environ.get("QWENFREE_UPSTREAM_URL", ""), session)
    app.add_url_rule("/healthz", view_func=healthz)
    app.add_url_rule("/v1/chat/completions", view_func=completions, methods=["POST"])
    return app


def healthz() -> Response:
    return Response("{}", mimetype="application/json")


def completions() -> Response:
    base, session = current_app.extensions["bench"]
    model = MODEL
    text = request.get_json()["messages"][0]["content"]
    headers = {"Authorization": request.headers.get("Authorization", "")}
    new = qwen.new_chat_body(model, "t2t", time.time())
    chat = session.post(base + "/api/v2/chats/new", json=new, headers=headers, timeout=10)
    chat_id = chat.json()["data"]["id"]
    body = qwen.completion_body(
        text,
        model=model,
        chat_id=chat_id,
        parent_id=None,
        chat_type="t2t",
        thinking=False,
        thinking_budget=None,
        now=time.time(),
    )
    url = f"{base}/api/v2/chat/completions?chat_id={chat_id}"
    upstream = session.post(url, json=body, headers=headers, stream=True, timeout=(10, 120))

    def relay() -> Iterator[bytes]:
        try:
            yield from upstream.iter_content(chunk_size=None)
        finally:
            upstream.close()

    return Response(relay(), mimetype="text/event-stream")
