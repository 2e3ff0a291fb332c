"""API dialects. Each is a package of the same modules (views in ``__init__``, ``schemas``,
``translate``), and its ``translate.DIALECT`` is a :class:`Dialect` with every member; the
registry below is the one place that names them."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

from qwenfree.dialects.common import Dialect

__all__ = ["PREFIXES", "Dialect", "for_request", "registry"]


@functools.cache
def registry() -> Mapping[str, Dialect]:
    """Dialect name (its blueprint's) -> Dialect, built once. Imported here, not at the top:
    the dialect packages' views import ``web``, which imports this package."""
    from qwenfree.dialects.anthropic.translate import DIALECT as anthropic
    from qwenfree.dialects.gemini.translate import DIALECT as gemini
    from qwenfree.dialects.openai.translate import DIALECT as openai

    return MappingProxyType({d.name: d for d in (openai, anthropic, gemini)})


# URL prefixes for requests no blueprint claimed (404/405): first match wins.
PREFIXES: tuple[tuple[str, str], ...] = (
    ("/v1/messages", "anthropic"),
    ("/v1beta/", "gemini"),
    ("/", "openai"),
)


def for_request(path: str, blueprint: str | None, headers: Mapping[str, str]) -> str:
    """Name the dialect a request speaks: its blueprint, then (on a shared path or one no
    route claimed) its headers, then its URL prefix.

    ``GET /v1/models`` is shared: Anthropic clients send ``anthropic-version``, Google's send
    ``x-goog-api-key`` or ``x-goog-api-client`` (google-genai defaults to ``/v1``). Elsewhere a
    route's own dialect wins over whatever headers came with it.
    """
    shared = blueprint is None or (blueprint == "openai" and path.startswith("/v1/models"))
    if shared and "anthropic-version" in headers:
        return "anthropic"
    if shared and ("x-goog-api-key" in headers or "x-goog-api-client" in headers):
        return "gemini"
    if blueprint in registry():
        return blueprint
    return next(name for prefix, name in PREFIXES if path.startswith(prefix))
