"""qwenfree: OpenAI-, Anthropic- and Gemini-compatible APIs over the free Qwen web chat.

Importing the package loads nothing else but the ``version`` leaf: gunicorn's arbiter imports
``qwenfree.worker`` before it forks, and flask, requests (ssl) and the app must load in each
worker after the fork (gunicorn.conf.py). ``create_app`` imports what it builds; ``wiring``
builds the objects it holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qwenfree.version import __version__ as __version__

if TYPE_CHECKING:
    from flask import Flask

    from qwenfree.settings import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The Flask app: what ``wiring.build`` made from the settings, the blueprints, the error
    handlers and request hooks."""
    from flask import Flask

    from qwenfree import cors, logs, ops, web, wiring
    from qwenfree.settings import Settings

    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    app = Flask(__name__)
    # "//" must not become an HTML redirect built from the Host header: a JSON 404 instead.
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_mb * 1024 * 1024
    state = app.extensions["qwenfree"] = wiring.build(settings)

    from qwenfree import admin, health, home, images, metrics
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
    ops.install(app, state.ops)
    return app
