"""Model answers that call tools, written as the engine's protocol asks the model to."""

from __future__ import annotations

import json

from qwenfree.tools import protocol


def call(name: str, args: dict) -> str:
    """A call block exactly as the protocol asks the model to write it."""
    return protocol.render_call(name, json.dumps(args))
