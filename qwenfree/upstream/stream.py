"""One streamed upstream answer: bytes in, the site's parser over its SSE payloads, neutral
events out; a body that is no stream (a JSON business error, an HTML page sent with status
200) is recognised from its first byte and raised as the error it stands for."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests

from qwenfree import errors, heartbeats
from qwenfree.events import Event, Heartbeat
from qwenfree.sse import SSEDecoder
from qwenfree.upstream import qwen
from qwenfree.upstream.failures import mapped_errors
from qwenfree.upstream.site import Site

MAX_ERROR_BODY = 1 << 20  # an error page larger than this is not worth reading


class UpstreamStream:
    """Iterates the neutral events of one completion; ``close()`` releases the connection.

    Bodies that are not SSE (a JSON business error or an HTML page sent with status 200) are
    recognised from their first byte and raised as errors.

    Opened while the web layer offers a ``heartbeats.Silence``, it keeps the heartbeats itself
    once the response streams: before each read it waits for the socket at most ``interval``
    at a time and yields a ``Heartbeat`` after each silent one; ``ready()`` says whether the
    next event can be had without waiting (events already read leave in one write).
    """

    def __init__(
        self,
        response: requests.Response,
        site: Site | None = None,
        on_error: Callable[[errors.QwenfreeError], errors.QwenfreeError] | None = None,
        on_end: Callable[[errors.QwenfreeError | None, str, tuple[str, ...]], None] | None = None,
        wire: Callable[[float], None] | None = None,
    ) -> None:
        self._response = response
        self._site = site
        self._on_error = on_error or (lambda err: err)
        self._on_end = on_end  # once: when the body ended, failed or was closed
        self._last = ""  # the failing body or frame, for on_end's code and details
        self._wire = wire  # told how long each body read waited (the request's meter)
        self.first_event_seconds: float | None = None  # from the first read to the first event
        self.parser: Any = site.parser() if site else qwen.FrameParser()
        self._silence = heartbeats.claim()
        self._more = False  # events of the chunk being parsed are left
        self._arrived = False  # bytes were seen waiting since the last read
        self._fp: Any = None  # the response's buffered reader and its socket, when it has them
        self._sock: Any = None
        if self._silence is not None:
            raw = response.raw
            self._fp = getattr(getattr(raw, "_fp", None), "fp", None)
            self._sock = getattr(getattr(raw, "connection", None), "sock", None)
            if self._fp is None or self._sock is None or not hasattr(self._fp, "peek"):
                self._silence = None  # not a socket we can watch: the pump keeps them

    def ready(self) -> bool:
        if self._more:
            return True
        self._arrived = heartbeats.arrived(self._fp, self._sock)  # the next read need not ask
        return self._arrived

    def __iter__(self) -> Iterator[Event]:
        started = time.perf_counter()
        events = self._events()
        silence = self._silence
        if silence is not None:
            silence.reader = self
        try:
            first = next(events, None)
            self._reached_first(started)
            if first is not None:
                yield first
                yield from events
        except errors.QwenfreeError as err:
            self._reached_first(started)
            self._ended(err)
            raise
        finally:
            if silence is not None and silence.reader is self:
                silence.reader = None
        self._ended(None)

    def _reached_first(self, started: float) -> None:
        if self.first_event_seconds is None:  # (or the body's end, or its failure)
            self.first_event_seconds = time.perf_counter() - started

    def _events(self) -> Iterator[Event]:
        decoder = SSEDecoder()
        with mapped_errors(self._site.name if self._site else qwen.NAME):
            chunks = self._chunks()
            for chunk in chunks:
                if chunk.strip():
                    break
            else:
                return
            if chunk.lstrip()[:1] in (b"{", b"<"):
                raise self._on_error(self._body_error(chunk, chunks))
            parse = self.parser.parse
            while True:
                messages = decoder.feed(chunk)
                left = len(messages)
                for message in messages:
                    left -= 1
                    self._last = message.data
                    events = parse(message.data)
                    last = len(events) - 1
                    for i, event in enumerate(events):
                        self._more = left > 0 or i < last
                        yield event
                self._more = False
                chunk = next(chunks, None)
                while chunk == b"":  # the upstream was silent for a heartbeat's interval
                    yield Heartbeat()
                    chunk = next(chunks, None)
                if chunk is None:
                    break
            for message in decoder.finish():
                self._last = message.data
                yield from self.parser.parse(message.data)
        if self.parser.answered and not getattr(self.parser, "finished", True):
            # A body that stops cleanly between frames, before the answer's end mark, is a
            # cut answer: passing it on would be a short "success".
            raise errors.UpstreamUnavailable("the upstream stream ended before the answer did")

    def close(self) -> None:
        self._response.close()
        self._ended(None)

    def _ended(self, err: errors.QwenfreeError | None) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            unparsed = tuple(getattr(self.parser, "unknown", ()))
            on_end(err, self._last if err is not None else "", unparsed)

    def _chunks(self) -> Iterator[bytes]:
        """The body's chunks; each read's wait is charged to ``wire`` (kept from the call's
        start: later reads may run in the heartbeat pump, where no request is current)."""
        source, charge = self._reads(), self._wire
        if charge is None:
            yield from source
            return
        while True:
            started = time.perf_counter()
            chunk = next(source, None)
            charge(time.perf_counter() - started)
            if chunk is None:
                return
            yield chunk

    def _reads(self) -> Iterator[bytes]:
        """The body's chunks; ``b""`` after each silent heartbeat interval (once streaming)."""
        raw = self._response.raw
        if raw.chunked:
            source = raw.read_chunked(None, decode_content=True)
        else:
            # A close-delimited body: read() would wait for EOF, read1() returns what arrived.
            source = iter(lambda: raw.read1(65536, decode_content=True), b"")
        silence = self._silence
        while True:
            if silence is not None and silence.active:
                yield from self._silences(silence)
            chunk = next(source, None)
            if chunk is None:
                return
            yield chunk

    def _silences(self, silence: heartbeats.Silence) -> Iterator[bytes]:
        """Wait until bytes arrive: ``b""`` for each silent interval. Events held for one write
        are not kept waiting: one ``b""`` at once sends them (with a heartbeat)."""
        fp, sock = self._fp, self._sock
        if self._arrived or heartbeats.arrived(fp, sock):
            self._arrived = False
            return
        if silence.holding:
            yield b""
        # The read timeout still bounds a silence: no read runs while we wait, so we keep it.
        timeout = sock.gettimeout()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = silence.interval
            if deadline is not None:
                step = min(step, deadline - time.monotonic())
                if step <= 0:
                    # Silent for the whole read timeout as far as the socket shows: the read
                    # itself decides (bytes a buffer holds come at once; else it times out).
                    return
            if heartbeats.wait_readable(sock, step):
                return
            yield b""

    def _body_error(self, first: bytes, rest: Iterator[bytes]) -> errors.QwenfreeError:
        body = bytearray(first)
        for chunk in rest:
            body.extend(chunk)
            if len(body) > MAX_ERROR_BODY:
                break
        text = self._last = body.decode("utf-8", "replace")
        page_error = self._site.page_error if self._site else qwen.page_error
        business_error = self._site.business_error if self._site else qwen.business_error
        if text.lstrip().startswith("<"):
            return page_error(text)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return page_error(text)
        err = business_error(parsed) if isinstance(parsed, dict) else None
        name = self._site.name if self._site else qwen.NAME
        return err or errors.UpstreamProtocolError(f"{name} sent JSON instead of a stream")
