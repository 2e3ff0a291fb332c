"""The model ids tests name, one per thing a test relies on, picked from the fake's own model
tables (tests/fake/state.py) rather than written out: the site renames its models every few
months (qwen3-max is gone from the 2026-09 list), and a test should say what it needs, not which
name happened to have it.

Each id is one both the 2026-09 and the legacy site list, taken in the 2026-09 list's order, so
any test file runs against either fake (QWENFREE_FAKE_MODE) and may switch ``fake.mode`` itself.
What ``default`` means (the site's first model) differs by mode: use ``default_model(fake)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests import fake_upstream as fu

_BOTH = {m["id"] for m in fu.default_models(fu.LEGACY)}
_TABLE = [m for m in fu.default_models(fu.SEP_2026) if m["id"] in _BOTH]


def _meta(model: dict[str, Any]) -> dict[str, Any]:
    return model["info"]["meta"]


def _thinks(model: dict[str, Any]) -> bool:
    return bool(_meta(model)["capabilities"]["thinking"])


def _must_think(model: dict[str, Any]) -> bool:
    return _thinks(model) and _meta(model)["think_skip"]["enable"] is False


def _has(*chat_types: str) -> Callable[[dict[str, Any]], bool]:
    return lambda model: set(chat_types) <= set(_meta(model)["chat_type"])


def _pick(*tests: Callable[[dict[str, Any]], bool]) -> str:
    return next(m["id"] for m in _TABLE if all(test(m) for test in tests))


def _vision(model: dict[str, Any]) -> bool:
    return bool(_meta(model)["capabilities"]["vision"])


# Thinking on request (off by default, ``-thinking`` turns it on) and web search.
MODEL = _pick(_thinks, lambda m: not _must_think(m), _has("search"))
# Reads pictures, documents and videos (``vision``).
VISION_MODEL = _pick(_vision)
# Draws (t2i), edits pictures (image_edit) and makes videos (t2v).
DRAW_MODEL = _pick(_has("t2i", "image_edit", "t2v"))
# Cannot think at all: ``-thinking`` is not one of its variants.
NO_THINKING_MODEL = _pick(lambda m: not _thinks(m))
# Must think (think_skip.enable false): thinking_enabled=false is refused, no ``-thinking`` variant.
MUST_THINK_MODEL = _pick(_must_think)
# Lists none of the drawing chat types (no ``-image``, ``-video``), but thinks and searches.
NO_DRAWING_MODEL = _pick(_thinks, _has("search"), lambda m: not _has("t2i")(m))


def model_entry(model_id: str) -> dict[str, Any]:
    """The fake's record of a model (both modes agree on the ones above)."""
    return next(m for m in _TABLE if m["id"] == model_id)


def default_model(fake: fu.FakeUpstream) -> str:
    """What ``default`` (and claude-*, gemini-*) resolves to: the site's first listed model."""
    return str(fake.models[0]["id"])
