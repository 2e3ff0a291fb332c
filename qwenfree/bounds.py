"""Bounded parsing: the shape every JSON request body must keep (nesting depth, values in the
whole body, entries in one array or object), checked once for all routes in ``web.json_body``.

The work a request causes (schema loading, translation, recursion over caller data) grows with
these three numbers, so checking them first keeps one request from holding a gevent worker's
only thread for seconds. The count is checked on the raw bytes *before* ``json.loads`` (which
needs ~2 s for 32 MB of ``[0,0,…]``), depth and entry counts right after it, and the walk stops
at the first limit crossed, so a hostile body costs at most one bounded pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qwenfree import errors


@dataclass(frozen=True, slots=True)
class Limits:
    depth: int  # arrays/objects inside each other
    values: int  # every value and member in the body
    items: int  # entries of one array or object (messages, parts, images …)


def check_raw(raw: bytes, limits: Limits, pause: Callable[[], None] = lambda: None) -> None:
    """Refuse (413) a body that holds more than ``limits.values`` values, before parsing.

    A value is the body itself, an array entry or an object member: ``1 + commas + non-empty
    arrays/objects``. Counting every comma and opening bracket gives a quick upper bound; only
    when that is over the limit is the exact count taken, on a skeleton with every string
    (which may hold commas and brackets) replaced by ``0`` and whitespace removed. All of it
    runs in C (bytes methods): ~0.2 s for 32 MB at worst, in steps of < 0.1 s with ``pause()``
    (a chance for other requests to run) between them."""
    if _structure(raw) <= limits.values:
        return
    pause()
    plain = raw.replace(b"\\\\", b"")  # escaped backslashes, then escaped quotes: what is
    pause()  # left of the quotes opens or closes a string
    plain = plain.replace(b'\\"', b"")
    if plain.count(b'"') > 4 * limits.values:  # a key and a string per value at most
        raise _too_many(limits)
    pause()
    skeleton = b"0".join(plain.split(b'"')[0::2])
    pause()
    skeleton = skeleton.translate(None, b" \t\r\n")
    pause()
    structure = _structure(skeleton)
    pause()
    if structure - skeleton.count(b"[]") - skeleton.count(b"{}") > limits.values:
        raise _too_many(limits)


def check(value: Any, limits: Limits) -> None:
    """Refuse a decoded body nested deeper than ``limits.depth`` (400) or with too many values
    or one array/object longer than ``limits.items`` (413). Iterative: no recursion on caller
    data, and it stops at the first crossed limit."""
    level = [value] if isinstance(value, dict | list) else []
    depth, seen = 1, 1
    while level:  # one pass per nesting level; only arrays and objects go on
        if depth > limits.depth:
            raise errors.InvalidRequest(
                f"The request body is nested more than {limits.depth} levels deep "
                "(QWENFREE_MAX_JSON_DEPTH)"
            )
        deeper: list[Any] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            if len(children) > limits.items:
                raise errors.PayloadTooLarge(
                    f"An array or object in the request body has more than {limits.items} "
                    "entries (QWENFREE_MAX_JSON_ITEMS)"
                )
            seen += len(children)
            if seen > limits.values:
                raise _too_many(limits)
            deeper += [c for c in children if isinstance(c, dict | list)]
        level, depth = deeper, depth + 1


def _structure(raw: bytes) -> int:
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1


def _too_many(limits: Limits) -> errors.PayloadTooLarge:
    return errors.PayloadTooLarge(
        f"The request body holds more than {limits.values} JSON values (QWENFREE_MAX_JSON_VALUES)"
    )
