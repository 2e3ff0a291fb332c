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
    from qwenfree.chats import ChatJanitor
    from qwenfree.service import ChatService
    from qwenfree.settings import Settings
    from qwenfree.upstream import qwen, tongyi
    from qwenfree.upstream.backend import Backends
    from qwenfree.upstream.passthrough import ClientTokens
    from qwenfree.upstream.qwen_backend import QwenBackend
    from qwenfree.upstream.tongyi_backend import TongyiBackend

    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    app = Flask(__name__)
    # "//" must not become an HTML redirect built from the Host header: a JSON 404 instead.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_mb * 1024 * 1024

    telemetry = metrics.Metrics(settings.metrics_multiproc_dir)
    client = metrics.TimedClient(settings, telemetry, qwen.site(settings))
    operations = ops.build(settings, client, telemetry)  # keys; accounts and store if keyed
    # Late-bound: the backends (built below) know which site a chat belongs to.
    janitor = ChatJanitor(
        lambda chat_id, token: backends.delete_chat(chat_id, token), settings.chat_ttl
    )
    # One backend per upstream site; the first listed after the default that accepts a
    # credential serves it. A new site is one module and one entry here.
    backends = Backends(
        QwenBackend(
            settings, client, janitor, operations.models_token, warm_report=telemetry.warm_chats
        ),
        (
            TongyiBackend(
                settings,
                metrics.TimedClient(settings, telemetry, tongyi.site(settings)),
                janitor,
            ),
        ),
    )
    router = operations.pool or ClientTokens(settings, operations.keeper)
    service = ChatService(settings, backends, router, janitor)
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
