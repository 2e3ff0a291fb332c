"""Reading the gateway's (and the fake's) SSE streams in tests with the product's own decoder
(:class:`qwenfree.sse.SSEDecoder`), so tests and product agree on what an event is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests

from qwenfree.sse import SSEDecoder, SSEMessage

Wire = bytes | str | requests.Response


def messages(wire: Wire) -> list[SSEMessage]:
    """Every event of a whole stream (comments skipped), ``data`` still text."""
    if isinstance(wire, requests.Response):
        wire = wire.content
    decoder = SSEDecoder()
    raw = wire.encode() if isinstance(wire, str) else wire
    return decoder.feed(raw) + decoder.finish()


def events(wire: Wire) -> list[tuple[str | None, Any]]:
    """(event name, JSON data) of each event; a ``[DONE]`` is left out."""
    return [(m.event, json.loads(m.data)) for m in messages(wire) if m.data != "[DONE]"]


def stream(response: requests.Response) -> Iterator[SSEMessage]:
    """The events of a streamed response as they arrive (``stream=True``)."""
    decoder = SSEDecoder()
    for chunk in response.iter_content(chunk_size=None):
        yield from decoder.feed(chunk)
    yield from decoder.finish()
