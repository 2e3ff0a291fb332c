"""Incremental extraction of tool calls from answer text (protocol in ``protocol.py``).

Text is fed in arbitrary pieces; out come plain text (as ``str``) and complete ``Call`` values.
Only the shortest possibly-marker prefix of a line is held back, so ordinary text streams with
no delay. A block counts as a call only when its opening tag starts a line outside a code fence,
names an allowed tool and is followed by a JSON object; anything else stays text. Arguments are
buffered until the block closes, then repaired if needed; arguments beyond repair leave the
block as text (a call with guessed arguments could run the wrong action).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from qwenfree.tools import protocol
from qwenfree.tools.repair import ObjectScanner, parse_arguments

log = logging.getLogger(__name__)
FENCES = ("```", "~~~")
CLOSE_SCAN = 24  # characters of earlier argument text searched again for a split close tag


@dataclass(frozen=True, slots=True)
class Call:
    """A complete call; ``arguments`` is a JSON object's text. ``truncated``: the answer ended
    before the block did, so the arguments were closed by repair."""

    name: str
    arguments: str
    truncated: bool = False


Piece = str | Call


@dataclass
class CallParser:
    allowed: frozenset[str]
    single: bool = False  # stop after the first call (parallel calls off)
    out: list[Piece] = field(default_factory=list)
    done: bool = False  # nothing more will be accepted (one call made, or a forged result)
    calls: int = 0
    _buf: str = ""
    _mode: str = "text"  # text | wait | args | after
    _line_start: bool = True
    _in_fence: bool = False
    _after_call: bool = False  # drop the whitespace that follows a call block
    _gap: str = ""  # line breaks held back: dropped if a call follows, else released
    _held: list[str] = field(default_factory=list)  # raw text of the block being read
    _name: str = ""
    _args: list[str] = field(default_factory=list)
    _tail: str = ""  # the end of the argument text, to find a close tag split across pieces
    _scanner: ObjectScanner = field(default_factory=ObjectScanner)

    def feed(self, text: str) -> list[Piece]:
        """Consume a piece of answer text; return what can be released now."""
        if not self.done:
            self._buf += text
            while not self.done and self._step():
                pass
        return self._take()

    def finish(self) -> list[Piece]:
        """The answer ended: release everything still held."""
        if not self.done:
            buf, self._buf = self._buf, ""
            if self._mode == "args":
                self._held.append(buf)
                self._complete("".join(self._args) + buf, truncated=True)
            elif self._mode == "after":  # only whitespace or part of a closing tag is held
                self._complete("".join(self._args), truncated=False)
            elif self._mode == "wait":
                self._held.append(buf)
                self._abandon()
            elif not (self._after_call and not buf.strip()):
                self._text(buf)
            gap, self._gap = self._gap, ""
            if not self._after_call:
                self._text(gap)
        self._buf = ""
        self.done = True
        return self._take()

    # -- modes: each step consumes what it can; False means "wait for more text"

    def _step(self) -> bool:
        if not self._buf:
            return False
        return {
            "text": self._step_text,
            "wait": self._step_wait,
            "args": self._step_args,
            "after": self._step_after,
        }[self._mode]()

    def _step_text(self) -> bool:
        if self._after_call:
            rest = self._buf.lstrip()
            if not rest:
                return False
            self._line_start = self._line_start or "\n" in self._buf[: len(self._buf) - len(rest)]
            self._buf, self._after_call = rest, False
            return True
        if not self._line_start:
            newline = self._buf.find("\n")
            if newline < 0:
                self._text(self._buf)
                self._buf = ""
                return False
            self._text(self._buf[:newline])
            self._gap += "\n"
            self._buf = self._buf[newline + 1 :]
            self._line_start = True
            return True
        return self._line_head()

    def _line_head(self) -> bool:
        """At a line start: decide whether this line may open a block (or toggles a fence)."""
        line = self._buf.lstrip(" ")
        indent = len(self._buf) - len(line)
        if indent > 3 or (line and line[0] == "\n"):
            return self._mid_line()
        if not line or any(len(line) < 3 and f.startswith(line) for f in FENCES):
            return False  # spaces so far, or what may become a fence
        if line.startswith(FENCES):
            self._in_fence = not self._in_fence
            return self._mid_line()
        if self._in_fence:
            return self._mid_line()
        markers = [protocol.OPEN_PREFIX] + ([protocol.RESULT_PREFIX] if self.calls else [])
        if any(len(line) < len(m) and m.startswith(line) for m in markers):
            return False  # could still become a marker
        if self.calls and line.startswith(protocol.RESULT_PREFIX):
            log.info("the model wrote a tool result itself; its answer ends here")
            self.done = True
            return False
        if not line.startswith(protocol.OPEN_PREFIX):
            return self._mid_line()
        return self._open_tag(line, indent)

    def _open_tag(self, line: str, indent: int) -> bool:
        end = line.find(">")
        newline = line.find("\n")
        if end < 0 and newline < 0 and len(line) < protocol.MAX_OPEN_LINE:
            return False
        match = protocol.OPEN_LINE.match(line)
        name = self._resolve(match.group(1)) if match else None
        if match is None or name is None or (0 <= newline < match.end()):
            if match is not None and name is None:
                log.info("the model called an unknown tool %r; kept as text", match.group(1))
            return self._mid_line()
        size = indent + match.end()
        self._held, self._name = [self._buf[:size]], name
        self._buf, self._mode = self._buf[size:], "wait"
        return True

    def _step_wait(self) -> bool:
        """After the opening tag: whitespace, at most one fence line, then ``{``."""
        rest = self._buf.lstrip()
        if not rest:
            return False
        skipped = self._buf[: len(self._buf) - len(rest)]
        if rest.startswith(FENCES) or (rest[0] in "`~" and len(rest) < 3):
            newline = rest.find("\n")
            if newline < 0:
                return False
            self._held.append(skipped + rest[: newline + 1])
            self._buf = rest[newline + 1 :]
            return True
        if rest[0] != "{":
            self._held.append(skipped)
            self._buf = rest
            self._abandon()
            return True
        self._held.append(skipped)
        self._buf, self._mode = rest, "args"
        self._args, self._tail, self._scanner = [], "", ObjectScanner()
        return True

    def _step_args(self) -> bool:
        chunk, self._buf = self._buf, ""
        window = self._tail + chunk
        close = _find_close(window)
        end = self._scanner.feed(chunk)
        if close >= 0 and (end is None or close - len(self._tail) < end):
            cut = close - len(self._tail)  # negative: the line break was in earlier text
            args = "".join(self._args) + chunk[: max(cut, 0)]
            if cut < 0:
                args = args[:cut]
            tag_end = window.find(protocol.CLOSE, close) + len(protocol.CLOSE) - len(self._tail)
            self._held.append(chunk[:tag_end])
            self._buf = chunk[tag_end:]
            self._complete(args, truncated=False)
            return True
        if end is not None:
            self._args.append(chunk[:end])
            self._held.append(chunk[:end])
            self._buf, self._mode = chunk[end:], "after"
            return True
        self._args.append(chunk)
        self._held.append(chunk)
        self._tail = window[-CLOSE_SCAN:]
        return False

    def _step_after(self) -> bool:
        """After the JSON object: an optional fence line, then the closing tag (or not)."""
        rest = self._buf.lstrip()
        if not rest:
            return False
        skipped = self._buf[: len(self._buf) - len(rest)]
        for token in (*FENCES, protocol.CLOSE):
            if rest.startswith(token):
                self._held.append(skipped + token)
                self._buf = rest[len(token) :]
                if token == protocol.CLOSE:
                    self._complete("".join(self._args), truncated=False)
                return True
            if token.startswith(rest):
                return False
        # The model forgot the closing tag: the object ended the call.
        self._held.append(skipped)
        self._buf = rest
        self._complete("".join(self._args), truncated=False)
        self._line_start = self._after_call and "\n" in skipped
        return True

    # -- outcomes

    def _complete(self, arguments: str, truncated: bool) -> None:
        self._mode = "text"
        parsed = parse_arguments(arguments)
        if parsed is None:
            log.warning("tool call to %s had arguments beyond repair; kept as text", self._name)
            self._text("".join(self._held))
            self._line_start = False
            return
        self.out.append(Call(self._name, json.dumps(parsed, ensure_ascii=False), truncated))
        self.calls += 1
        self._held, self._line_start, self._after_call, self._gap = [], False, True, ""
        self.done = self.single

    def _abandon(self) -> None:
        """The candidate was not a call after all: release it as text."""
        held = "".join(self._held)
        self._text(held)
        self._held, self._mode = [], "text"
        self._line_start = held.endswith("\n")

    def _mid_line(self) -> bool:
        self._line_start = False
        return True

    def _resolve(self, name: str) -> str | None:
        if name in self.allowed:
            return name
        folded = [a for a in self.allowed if a.lower() == name.strip().lower()]
        return folded[0] if len(folded) == 1 else None

    def _text(self, text: str) -> None:
        if not text:
            return
        text, self._gap = self._gap + text, ""
        if self.out and isinstance(self.out[-1], str):
            self.out[-1] += text
        else:
            self.out.append(text)

    def _take(self) -> list[Piece]:
        out, self.out = self.out, []
        return out


def _find_close(text: str) -> int:
    """Index of a line break that starts a closing-tag line, or -1."""
    start = 0
    while (at := text.find(protocol.CLOSE, start)) >= 0:
        head = text.rfind("\n", 0, at)
        if head >= 0 and not text[head + 1 : at].strip(" \t"):
            return head
        start = at + 1
    return -1
