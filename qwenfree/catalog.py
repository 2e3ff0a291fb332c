"""The model catalog: upstream models cached with a TTL, name resolution and suffix variants.

Names resolve case-insensitively against ids and display names. Suffixes select modes:
``-thinking``, ``-search``, ``-thinking-search`` and ``-fast`` (thinking off); ``-image``,
``-image-edit`` and ``-video`` draw (chat types ``t2i``, ``image_edit``, ``t2v``) where the model's
``chat_type`` list offers them. An unknown name is
a ModelNotFound listing valid ids, never a silent substitute -- except while the upstream list
cannot be fetched, when the name is passed through for the upstream to judge.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from qwenfree import errors

SUFFIXES: tuple[tuple[str, bool | None, bool], ...] = (
    # suffix, thinking, search
    ("-thinking-search", True, True),
    ("-search-thinking", True, True),
    ("-thinking", True, False),
    ("-search", None, True),
    ("-fast", False, False),
)
# suffix, chat type: drawing modes, offered where the upstream lists the chat type
MODES: tuple[tuple[str, str], ...] = (
    ("-image-edit", "image_edit"),
    ("-image", "t2i"),
    ("-video", "t2v"),
)
FALLBACK_TTL = 30.0  # retry the upstream list soon after a failure
DEFAULT = "default"  # an alias target: the configured default model, else the site's flagship
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    name: str
    thinking: bool = False
    thinking_required: bool = False
    search: bool = False
    vision: bool = False
    context_length: int = 131072
    max_output: int = 8192
    created: int = 0
    known: bool = True  # False: passed through unchecked while the upstream list is unreachable
    modes: tuple[str, ...] = ()  # drawing chat types it supports: t2i, image_edit, t2v

    def variants(self) -> list[str]:
        """Ids this model is listed under: itself plus the suffixes it supports."""
        out = [self.id]
        if self.thinking and not self.thinking_required:
            out.append(self.id + "-thinking")
        if self.search:
            out.append(self.id + "-search")
            if self.thinking:
                out.append(self.id + "-thinking-search")
        out += [self.id + suffix for suffix, mode in sorted(MODES) if mode in self.modes]
        return out


@dataclass(frozen=True, slots=True)
class Resolved:
    model: ModelInfo
    thinking: bool | None  # what the suffix asked for
    search: bool
    mode: str | None = None  # a drawing chat type the suffix asked for


FALLBACK = (
    ModelInfo("qwen3-max", "Qwen3-Max", thinking=True, search=True, modes=("t2i",)),
    ModelInfo(
        "qwen3.7-plus",
        "Qwen3.7-Plus",
        thinking=True,
        search=True,
        vision=True,
        modes=("t2i", "image_edit", "t2v"),
    ),
    ModelInfo("qwen3-coder-plus", "Qwen3-Coder", search=True),
)


def model_from_upstream(raw: Mapping[str, Any]) -> ModelInfo:
    """Read one entry of ``GET /api/models``."""
    info = raw.get("info") or {}
    meta = info.get("meta") or {}
    caps = meta.get("capabilities") or {}
    abilities = meta.get("abilities") or {}
    chat_types = meta.get("chat_type") or []
    thinking = bool(caps.get("thinking") or abilities.get("thinking"))
    skip = meta.get("think_skip")
    return ModelInfo(
        id=str(raw.get("id")),
        name=str(raw.get("name") or info.get("name") or raw.get("id")),
        thinking=thinking,
        thinking_required=thinking and isinstance(skip, Mapping) and skip.get("enable") is False,
        search="search" in chat_types,
        vision=bool(caps.get("vision") or abilities.get("vision")),
        context_length=int(meta.get("max_context_length") or 131072),
        max_output=int(meta.get("max_generation_length") or 8192),
        created=int(info.get("created_at") or 0),
        modes=tuple(mode for _, mode in MODES if mode in chat_types),
    )


class ModelCatalog:
    """Fetches the upstream list at most once per TTL; thread/greenlet safe."""

    def __init__(
        self,
        fetch: Callable[[str | None], Iterable[Mapping[str, Any]]],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        aliases: str = "",
        default_model: str = "",
    ) -> None:
        self._aliases = parse_aliases(aliases)
        self._default = default_model.strip()
        self._told: str | None = None  # the default last logged, so it is logged once
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._models: tuple[ModelInfo, ...] = ()
        self._good: tuple[ModelInfo, ...] = ()  # the last list the site gave
        self._authoritative = False
        self._expires = float("-inf")

    def models(self, token: str | None = None) -> tuple[tuple[ModelInfo, ...], bool]:
        """Return (models, authoritative); authoritative is False on the static fallback."""
        with self._lock:
            if self._clock() < self._expires:
                return self._models, self._authoritative
        try:
            models = tuple(model_from_upstream(m) for m in self._fetch(token) if m.get("id"))
        except errors.QwenfreeError:
            models = ()
        with self._lock:
            if models:
                self._models, self._authoritative, self._good = models, True, models
                self._expires = self._clock() + self._ttl
            elif self._good:
                # The site's last list beats a built-in guess (ids rotate: the guess ages).
                self._models, self._authoritative = self._good, False
                self._expires = self._clock() + FALLBACK_TTL
            else:
                # Never fetched: ask again with the next request rather than route everything
                # to the built-in list's ids for a while.
                self._models, self._authoritative = FALLBACK, False
                self._expires = float("-inf")
            return self._models, self._authoritative

    def resolve(self, name: str, token: str | None = None) -> Resolved:
        """Find the model (and mode) a requested name means, following aliases once."""
        models, authoritative = self.models(token)
        if name.strip().lower() == DEFAULT:
            name = self._default_of(models)
        found = _match(models, name)
        for pattern, target in self._aliases:
            if found is None and fnmatch.fnmatchcase(name.strip().lower(), pattern):
                found = _match(models, self._default_of(models) if target == DEFAULT else target)
        if found is not None:
            return found
        if not authoritative:
            return Resolved(ModelInfo(name.strip(), name.strip(), known=False), None, False)
        valid = ", ".join(v for m in models for v in m.variants())
        raise errors.ModelNotFound(
            f"The model '{name}' does not exist. Valid models: {valid}", param="model"
        )

    def default_model(self, token: str | None = None) -> str:
        """What ``default`` means now: the configured model while the site lists it, else the
        site's own first (flagship) model, so hard-coded client names never meet a 404 when
        the site renames its models (they rotate every few months, §6.1)."""
        return self._default_of(self.models(token)[0])

    def _default_of(self, models: tuple[ModelInfo, ...]) -> str:
        if self._default and (_lookup(models, self._default.lower()) or not models):
            return self._default
        chosen = models[0].id if models else self._default
        if chosen != self._told:
            self._told = chosen
            if self._default:
                log.warning(
                    "the default model %r is not in the site's list; using %r (set "
                    "QWENFREE_DEFAULT_MODEL to one of the listed ids)",
                    self._default,
                    chosen,
                )
            else:
                log.info("default model: %r (the site's first listed model)", chosen)
        return chosen


def _match(models: tuple[ModelInfo, ...], name: str) -> Resolved | None:
    """Match an id or display name, with or without a mode suffix."""
    wanted = name.strip().lower()
    if found := _lookup(models, wanted):
        return Resolved(found, None, False)
    for suffix, thinking, search in SUFFIXES:
        if wanted.endswith(suffix) and (base := _lookup(models, wanted[: -len(suffix)])):
            if (thinking and not base.thinking) or (search and not base.search):
                return None
            return Resolved(base, thinking, search)
    for suffix, mode in MODES:
        if wanted.endswith(suffix) and (base := _lookup(models, wanted[: -len(suffix)])):
            return Resolved(base, None, False, mode) if mode in base.modes else None
    return None


def parse_aliases(text: str) -> tuple[tuple[str, str], ...]:
    """Read ``glob=model,glob=model`` (``default``: see ``default_model``); raise ValueError
    on a malformed pair."""
    pairs = []
    for item in text.replace("\n", ",").split(","):
        if not item.strip():
            continue
        pattern, sep, target = item.partition("=")
        if not sep or not pattern.strip() or not target.strip():
            raise ValueError(f"model alias {item.strip()!r} is not 'glob=model'")
        target = target.strip()
        pairs.append((pattern.strip().lower(), target))
    return tuple(pairs)


def _lookup(models: Iterable[ModelInfo], wanted: str) -> ModelInfo | None:
    for m in models:
        if wanted in (m.id.lower(), m.name.lower()):
            return m
    return None
