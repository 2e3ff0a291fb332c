"""qwenfree: OpenAI-, Anthropic- and Gemini-compatible APIs over the free Qwen web chat.

Importing the package loads nothing else: gunicorn's arbiter imports ``qwenfree.worker`` before
it forks, and flask, requests (ssl) and the app must load in each worker after the fork
(gunicorn.conf.py). ``create_app`` imports what it builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from qwenfree.settings import Settings

__version__ = "0.1.0"


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app: settings, the upstream client and services, blueprints, error handlers."""
    from flask import Flask

    from qwenfree import cors, logs, metrics, ops, web
    from qwenfree.catalog import ModelCatalog
    from qwenfree.chats import ChatJanitor
    from qwenfree.service import ChatService
    from qwenfree.settings import Settings
    from qwenfree.upstream.passthrough import ClientTokens

    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_mb * 1024 * 1024

    telemetry = metrics.Metrics(settings.metrics_multiproc_dir)
    client = metrics.TimedClient(settings, telemetry)
    operations = ops.build(settings, client, telemetry)  # keys; accounts and store if keyed
    catalog = ModelCatalog(
        lambda token: (
            client.json("GET", "/api/models", operations.models_token(token)).get("data") or []
        ),
        settings.models_ttl,
        aliases=settings.model_aliases,
        default_model=settings.default_model,
    )
    # Late-bound: the service (built below) knows which site a chat belongs to.
    janitor = ChatJanitor(
        lambda chat_id, token: service.delete_chat(chat_id, token), settings.chat_ttl
    )
    router = operations.pool or ClientTokens(settings, operations.keeper)
    service = ChatService(settings, client, catalog, router, janitor)
    app.extensions["qwenfree"] = web.State(settings, service, janitor, operations)

    from qwenfree import admin, health, home, images
    from qwenfree.dialects import anthropic, gemini, openai

    app.register_blueprint(health.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(openai.bp)
    app.register_blueprint(anthropic.bp)
    app.register_blueprint(gemini.bp)
    app.register_blueprint(images.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(metrics.bp)
    web.install(app)
    cors.install(app, settings.cors_origins)  # before any key check: preflights
    ops.install(app, operations)
    return app
