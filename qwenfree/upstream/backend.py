"""One ``Backend`` per upstream site, behind one small protocol; ``Backends`` picks the one a
credential belongs to. The chat service plans a turn, leases credentials and shapes answers; it
never knows which site it talks to. Everything a site is (paths, bodies, error codes, media
endpoints) lives in its backend module (``qwen_backend``, ``tongyi_backend``); adding a site is
one new module and one entry in ``create_app``'s ``Backends(...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Protocol

from qwenfree import errors
from qwenfree.catalog import ModelCatalog
from qwenfree.events import Event, Usage
from qwenfree.upstream.accounts import AccountSpec
from qwenfree.upstream.client import UpstreamStream
from qwenfree.upstream.credentials import TokenKeeper
from qwenfree.upstream.turn import Turn


class Answer:
    """One upstream answer being read: its chat, its ids and usage, its events not yet consumed.

    The protocol parser stays private; ``close()`` releases the connection (and lets the chat's
    idle clock start)."""

    def __init__(
        self,
        site: str,
        chat_id: str,
        upstream: UpstreamStream,
        events: Iterator[Event],
        turn: Turn,
        token: str,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self.site = site  # the site's name, for messages
        self.chat_id = chat_id
        self.turn = turn
        self.token = token
        self.events = events
        self._upstream = upstream
        self._on_close = on_close
        self._answered = False
        self._closed = False

    @property
    def response_id(self) -> str:
        parser = self._upstream.parser
        return parser.response_id or parser.created_id or ""

    @property
    def usage(self) -> Usage | None:
        return self._upstream.parser.usage  # type: ignore[no-any-return]

    @property
    def answered(self) -> bool:
        """Did the answer hold text or a picture (not only thinking)?"""
        return self._answered or bool(self._upstream.parser.answered)

    def mark_answered(self) -> None:
        """Something outside the stream (a read-back) supplied the answer."""
        self._answered = True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._upstream.close()
        finally:
            self._on_close()


@dataclass(frozen=True)
class Probe:
    """One step of ``make doctor``'s walk, as the site defines it: ``run`` makes the site's
    calls for the step (the transport's observers see each) and returns what it found, in
    words (redacted before anyone sees them); a raised error is the step's failure."""

    step: str
    run: Callable[[], str]
    needs: tuple[str, ...] = ()  # steps that must have passed first (else this one is skipped)
    skip: str = ""  # not run, for this reason (not offered by this site, not asked for)


@dataclass(frozen=True, slots=True)
class VideoJob:
    chat_id: str
    task_id: str


class Backend(Protocol):
    """What the service needs from an upstream site."""

    name: str  # how messages name the site ("chat.qwen.ai", "Tongyi")
    # Can a turn carry text files (``Turn.blobs``)? Then a prompt too large for one request
    # body travels partly as attached files (``long_prompt``); else it is refused.
    takes_text_files: bool

    def accepts(self, credential: str) -> bool:
        """Is this credential one of this site's?"""

    def catalog(self) -> ModelCatalog:
        """The models this site offers."""

    def open(self, turn: Turn, token: str) -> Answer:
        """Send the turn (in a new chat, or continuing ``turn.chat_id``) and read until the
        answer's first event, so failures surface before anything reaches the caller. Raise
        ``ChatNotFound`` when the chat to continue is gone (or not one of this site's ids)."""

    def follow_up(self, answer: Answer, text: str) -> Answer:
        """Ask again in the same chat, after ``answer`` (the tool engine's nudge)."""

    def delete_chat(self, chat_id: str, token: str) -> None:
        """Delete a chat (or session) this gateway created."""

    def check(self, token: str) -> bool:
        """Does the site accept this credential? Raise when it cannot tell."""

    def start_video(self, turn: Turn, token: str) -> VideoJob:
        """Start a video task; raise ``InvalidRequest`` when the site makes none."""

    def video_status(self, task_id: str, token: str) -> tuple[str, str]:
        """(state, URL): ``done`` with the video's URL, ``failed`` or ``running``."""

    def download(self, url: str, max_bytes: int) -> bytes:
        """Fetch a file the site generated."""

    def diagnose(
        self, spec: AccountSpec, keeper: TokenKeeper, media: bool, secret: Callable[[str], None]
    ) -> list[Probe]:
        """``make doctor``'s steps for this credential, each calling the site once; ``secret``
        is told every token and id met, so the report can redact it."""

    def close(self) -> None: ...


@dataclass
class Backends:
    """The configured sites: the first that accepts a credential serves it; ``default``
    accepts every credential the others do not (and serves requests with none)."""

    default: Backend
    others: tuple[Backend, ...] = field(default=())

    def for_credential(self, credential: str | None) -> Backend:
        if credential:
            for backend in self.others:
                if backend.accepts(credential):
                    return backend
        return self.default

    def delete_chat(self, chat_id: str, token: str) -> None:
        self.for_credential(token).delete_chat(chat_id, token)

    def close(self) -> None:
        for backend in (self.default, *self.others):
            backend.close()


def first_event(stream: Iterable[Event], site: str, source: object = None) -> Iterator[Event]:
    """The answer's events once its first one arrived, so failures surface before any byte.
    ``source``: the upstream stream whose parser notes frames it did not understand."""
    events = iter(stream)
    first = next(events, None)
    if first is None:
        # Frames arrived but none was understood: the site changed, not the account's quota.
        notes = getattr(getattr(source or stream, "parser", None), "unknown", None)
        if notes:
            raise errors.UpstreamProtocolError(
                f"{site} answered in a shape this gateway does not know ({notes[0]}); "
                "the site may have changed: run make doctor and report its output"
            )
        raise errors.UpstreamEmpty(
            f"{site} returned an empty answer (the account may be rate limited)"
        )
    return chain([first], events)
