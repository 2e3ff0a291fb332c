"""qwenfree: OpenAI-, Anthropic- and Gemini-compatible APIs over the free Qwen web chat."""

from __future__ import annotations

from flask import Flask

from qwenfree import logs, web
from qwenfree.catalog import ModelCatalog
from qwenfree.chats import ChatJanitor
from qwenfree.service import ChatService
from qwenfree.settings import Settings
from qwenfree.upstream.accounts import TokenHealth
from qwenfree.upstream.client import UpstreamClient

__version__ = "0.1.0"


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app: settings, the upstream client and services, blueprints, error handlers."""
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_mb * 1024 * 1024

    client = UpstreamClient(settings)
    catalog = ModelCatalog(
        lambda token: client.json("GET", "/api/models", token).get("data") or [],
        settings.models_ttl,
        aliases=settings.model_aliases,
        default_model=settings.default_model,
    )
    janitor = ChatJanitor(
        lambda chat_id, token: client.json("DELETE", f"/api/v2/chats/{chat_id}", token),
        settings.chat_ttl,
    )
    service = ChatService(settings, client, catalog, TokenHealth(), janitor)
    app.extensions["qwenfree"] = web.State(settings, service, janitor)

    from qwenfree import health, home
    from qwenfree.dialects import anthropic, gemini, openai

    app.register_blueprint(health.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(openai.bp)
    app.register_blueprint(anthropic.bp)
    app.register_blueprint(gemini.bp)
    web.install(app)
    return app
