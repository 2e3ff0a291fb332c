"""Ids that travel in upstream URLs: the shapes we accept back from callers, and the one
encoder every path or query part built from data goes through.

A caller hands back ids we issued (continuation handles, video ids). An id of another shape is
never sent upstream: ``?``, ``/`` or ``&`` in a chat id would turn ``DELETE /api/v2/chats/<id>``
into a call on the collection, or ``?chat_id=<id>`` into another query. Shapes are checked
where the id comes in; the encoding here is the second line of defence.
"""

from __future__ import annotations

import re
from urllib.parse import quote

UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
HEX32 = re.compile(r"[0-9a-fA-F]{32}")
# The last part of a handle: accounts.fingerprint() (10 hex) or, for server accounts, bind() (16)
FINGERPRINT = re.compile(r"[0-9a-f]{10}(?:[0-9a-f]{6})?")
# An upstream id whose exact shape is not documented (a video task): letters, digits, - and _.
OPAQUE = re.compile(r"[0-9A-Za-z_-]{1,128}")


def shaped(pattern: re.Pattern[str], value: str | None) -> bool:
    """Is ``value`` exactly of this shape?"""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def part(value: str) -> str:
    """``value`` percent-encoded as one path segment or query value (nothing left unescaped
    that could end the segment, start a query or add a parameter)."""
    return quote(str(value), safe="")
