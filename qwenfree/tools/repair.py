"""JSON written by a language model: finding where an object ends, and repairing the usual
mistakes (code fences, raw line breaks or stray quotes inside strings, trailing commas, Python
literals, single quotes, unquoted keys, a cut-off end). Pure functions, no I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_ARGUMENT_DEPTH = 64  # arrays/objects inside each other in one call's arguments
FENCE = re.compile(r"\A\s*(?:```|~~~)[\w+-]*[ \t]*\n(.*?)\n?\s*(?:```|~~~)?\s*\Z", re.DOTALL)
ESCAPES = frozenset('"\\/bfnrtu')
LITERALS = {"true": "true", "false": "false", "null": "null"}
LITERALS |= {"True": "true", "False": "false", "None": "null"}
CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
BARE_WORD = re.compile(r"[^\s,:{}\[\]\"']+")


@dataclass
class ObjectScanner:
    """Finds the end of one JSON object fed in pieces, respecting strings and escapes."""

    depth: int = 0
    in_string: bool = False
    escaped: bool = False
    seen: int = 0  # characters consumed so far

    def feed(self, text: str) -> int | None:
        """Consume ``text``; return the offset in it just after the closing brace, if reached."""
        for i, ch in enumerate(text):
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif ch == "\\":
                    self.escaped = True
                elif ch == '"':
                    self.in_string = False
            elif ch == '"':
                self.in_string = True
            elif ch in "{[":
                self.depth += 1
            elif ch in "}]":
                self.depth -= 1
                if self.depth <= 0:
                    self.seen += i + 1
                    return i + 1
        self.seen += len(text)
        return None


def unfence(text: str) -> str:
    """Strip one markdown code fence around ``text`` (a model's habit in JSON answers)."""
    match = FENCE.match(text)
    return match.group(1).strip() if match else text.strip()


def loads_lenient(text: str) -> tuple[Any, bool]:
    """Parse model-written JSON, repairing it if needed; return (value, ok)."""
    text = unfence(text)
    for candidate in (text, _Fixer(text).run()):
        try:
            return json.loads(candidate), True
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's limit
            continue
    return None, False


def parse_arguments(text: str) -> dict[str, Any] | None:
    """Tool arguments as a dict, repaired when possible; None when beyond repair (or nested
    so deep that writing them out again could exhaust Python's recursion limit)."""
    value, ok = loads_lenient(text)
    usable = ok and isinstance(value, dict) and nesting(value) <= MAX_ARGUMENT_DEPTH
    return value if usable else None


def nesting(value: Any) -> int:
    """How many arrays/objects are nested in ``value`` (iterative)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        node, level = todo.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            children = node.values() if isinstance(node, dict) else node
            todo.extend((child, level + 1) for child in children)
    return deepest


@dataclass
class _Fixer:
    """One pass over broken JSON that emits a repaired version (linear time)."""

    text: str
    out: list[str] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)  # "{" or "["
    expect: str = "value"  # key | colon | value | comma
    pending_comma: bool = False

    def run(self) -> str:
        i, n = 0, len(self.text)
        while i < n:
            ch = self.text[i]
            if ch in "\"'":
                i = self._string(i)
            elif ch in "{[":
                self._emit(ch)
                self.stack.append(ch)
                self.expect = "key" if ch == "{" else "value"
                i += 1
            elif ch in "}]":
                self._close(ch)
                i += 1
            elif ch == ",":
                self.pending_comma = True
                self.expect = "key" if self._in_object() else "value"
                i += 1
            elif ch == ":":
                self.out.append(":")
                self.expect = "value"
                i += 1
            elif ch.isspace():
                i += 1
            else:
                i = self._bare(i)
        return self._finish()

    def _in_object(self) -> bool:
        return bool(self.stack) and self.stack[-1] == "{"

    def _emit(self, token: str) -> None:
        if self.pending_comma:
            self.out.append(",")
            self.pending_comma = False
        self.out.append(token)

    def _close(self, ch: str) -> None:
        self.pending_comma = False  # a trailing comma is dropped
        if self.expect == "colon":
            self.out.append(":null")
        if self.stack:
            opener = self.stack.pop()
            self.out.append("}" if opener == "{" else "]")
        self.expect = "comma"

    def _string(self, start: int) -> int:
        """Copy a string starting at ``start``; return the index after it."""
        quote, chars, i, n = self.text[start], ['"'], start + 1, len(self.text)
        while i < n:
            ch = self.text[i]
            if ch == "\\" and i + 1 < n:
                nxt = self.text[i + 1]
                chars.append(
                    "\\" + nxt if nxt in ESCAPES else ("'" if nxt == "'" else "\\\\" + nxt)
                )
                i += 2
                continue
            if ch == quote and self._ends_string(i + 1):
                i += 1
                break
            if ch == '"':
                chars.append('\\"')
            elif ch in CONTROL or ord(ch) < 0x20:
                chars.append(CONTROL.get(ch, f"\\u{ord(ch):04x}"))
            else:
                chars.append(ch)
            i += 1
        chars.append('"')
        key = self.expect == "key"
        self._emit("".join(chars))
        self.expect = "colon" if key else "comma"
        return i

    def _ends_string(self, after: int) -> bool:
        """Is a quote followed by what may follow a string (so not a stray inner quote)?"""
        rest = self.text[after:].lstrip()
        if not rest or rest[0] in ":}]":
            return True
        if rest[0] != ",":
            return False
        tail = rest[1:].lstrip()
        return not tail or not self._in_object() or tail[0] in "\"'}"

    def _bare(self, start: int) -> int:
        """A number, a literal, or an unquoted key."""
        match = BARE_WORD.match(self.text, start)
        word = match.group(0) if match else self.text[start]
        if self.expect == "key":
            self._emit(json.dumps(word))
            self.expect = "colon"
        else:
            self._emit(LITERALS.get(word, word))
            self.expect = "comma"
        return start + len(word)

    def _finish(self) -> str:
        if self.expect == "colon":
            self.out.append(":null")
        elif self.expect == "value" and self.out and self.out[-1] == ":":
            self.out.append("null")
        for opener in reversed(self.stack):
            self.out.append("}" if opener == "{" else "]")
        return "".join(self.out)
