"""Server-sent events: the one encoder that writes SSE bytes, and a bytes-level decoder.

The decoder is incremental and safe at any chunk boundary: it splits lines on CRLF, LF or CR
(a CR at the end of a chunk waits for the next chunk, so a split CRLF is not two line ends) and
decodes UTF-8 only once a line is complete, so a multibyte character split across TCP reads
survives. It never uses ``iter_lines`` (see design.md §6).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from json.encoder import encode_basestring  # json.dumps(str, ensure_ascii=False), in C
from typing import Any

_EOL = re.compile(rb"\r\n|\r|\n")
HOLE = "\x00qwenfree-hole\x00"  # where a Template's string goes


@dataclass(frozen=True, slots=True)
class SSEMessage:
    """One SSE event to send or one that was received. ``data`` is a JSON value or a string."""

    data: Any = None
    event: str | None = None
    comment: str | None = None


def dumps(value: Any) -> str:
    """Serialise JSON compactly, keeping non-ASCII text as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Template:
    """A JSON value serialised once around one string (``HOLE``): a text delta of a stream is
    then one C-level escape and two concatenations, byte for byte what ``dumps`` would give."""

    __slots__ = ("head", "tail")

    def __init__(self, value: Any) -> None:
        self.head, found, self.tail = dumps(value).partition(encode_basestring(HOLE))
        if not found:
            raise ValueError("a Template needs HOLE as one of its string values")

    def fill(self, text: str) -> str:
        return self.head + encode_basestring(text) + self.tail


def encode(message: SSEMessage) -> bytes:
    """Return the wire bytes of one event (or comment)."""
    if message.comment is not None:
        return f": {message.comment}\n\n".encode()
    data = message.data if isinstance(message.data, str) else dumps(message.data)
    if not message.event and "\n" not in data:  # every JSON payload: one data line
        return ("data: " + data + "\n\n").encode()
    head = f"event: {message.event}\n" if message.event else ""
    body = "".join(f"data: {line}\n" for line in data.split("\n"))
    return (head + body + "\n").encode()


class SSEDecoder:
    """Feed raw bytes, get complete events; call ``finish`` at end of stream."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf known to hold no line end
        self._data: list[str] = []
        self._event: str | None = None
        self._cr = False  # a CR was seen: this stream needs the general line splitter

    def feed(self, chunk: bytes) -> list[SSEMessage]:
        """Consume a chunk; return the events it completed."""
        if self._cr or b"\r" in chunk:
            self._cr = True
            return self._feed_any(chunk)
        # The usual chunk is one whole event, ``data: <payload>\n\n``, with nothing pending.
        if (
            chunk[:6] == b"data: "
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk[-1:] == b"\n"
            and not self._buf
            and not self._data
            and self._event is None
        ):
            return [SSEMessage(data=chunk[6:-2].decode("utf-8", errors="replace"))]
        # Fast path for LF-only streams (the usual case): C-level split, half the cost.
        if b"\n" not in chunk:
            self._buf.extend(chunk)
            self._scanned = len(self._buf)
            return []
        *lines, rest = (bytes(self._buf) + chunk if self._buf else chunk).split(b"\n")
        out: list[SSEMessage] = []
        for line in lines:
            self._line(line, out)
        self._buf = bytearray(rest)
        self._scanned = len(rest)
        return out

    def _feed_any(self, chunk: bytes) -> list[SSEMessage]:
        """Split on CRLF, LF or CR, waiting when a chunk ends in CR."""
        buf = self._buf
        buf.extend(chunk)
        out: list[SSEMessage] = []
        start, pos = 0, self._scanned
        pending_cr = False
        while (m := _EOL.search(buf, pos)) is not None:
            if m.group() == b"\r" and m.end() == len(buf):
                pending_cr = True  # maybe the first half of a CRLF: wait for the next byte
                break
            self._line(bytes(buf[start : m.start()]), out)
            start = pos = m.end()
        del buf[:start]
        self._scanned = len(buf) - 1 if pending_cr else len(buf)
        return out

    def finish(self) -> list[SSEMessage]:
        """Flush what an unterminated last line or event left behind."""
        out: list[SSEMessage] = []
        if self._buf:
            self._line(bytes(self._buf).rstrip(b"\r"), out)
            self._buf.clear()
        self._line(b"", out)
        self._scanned = 0
        return out

    def _line(self, raw: bytes, out: list[SSEMessage]) -> None:
        if not raw:
            if self._data:
                out.append(SSEMessage(data="\n".join(self._data), event=self._event))
            self._data, self._event = [], None
            return
        if raw[:1] == b":":
            return
        line = raw.decode("utf-8", errors="replace")
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
