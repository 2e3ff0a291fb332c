"""A prompt too large for one request body: what stays in the message text, and the rest as
attached UTF-8 text files (upstream-chat-qwen-ai.md §16.6; the WAF punishes bodies above
~128 KB, §0.6, so the message text is kept within ``Settings.max_prompt_kb``).

What stays in the message, in this order of priority, as long as it fits the budget:

1. the directive (the files are the conversation so far) and the closing rules of this reply
   (the call format again, the tool choice, JSON mode): what the reply must obey;
2. the tool catalog: a model acts only through the calls it describes, and instructions in the
   message are followed more reliably than text in an attachment (the site may also read a long
   document selectively);
3. the newest message (the question, or the tool results the model must act on);
4. the caller's system prompt;
5. earlier messages, newest first, contiguously: the moved part is always a prefix of the
   conversation, so it only grows as the conversation does.

Everything else moves, oldest first, into files ``conversation-1.txt``, ``conversation-2.txt``,
…: file *i* is closed once it holds ``CHUNK_BYTES * 2**(i-1)`` bytes (``MAX_FILES``: the last
takes the rest). A closed file's content depends only on the sections in it, and each file has
its own header fence, so as the conversation grows the closed files stay byte-identical — the
upload cache (by account and content hash, ``upstream/files.py``) sends them once — and only
the last, open file is uploaded again. Doubling sizes keep the number of files small (64 + 128
+ 256 KiB closed, then the rest) while the open file is at most about half of what moved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from qwenfree.attachments import Blob
from qwenfree.prompt import Sections, headed, wire_size

CHUNK_BYTES = 64 * 1024  # the first file's size; each next one is twice the previous
MAX_FILES = 4  # files one long prompt becomes at most: the last holds whatever remains
MEDIA_TYPE = "text/plain"
FILE_PREAMBLE = (
    "Part {number} of the conversation so far. Each section starts with a header line naming "
    "who speaks; the conversation continues in the next part."
)
DIRECTIVE = (
    "The earlier part of this conversation is in the attached text files {names}: read them in "
    "that order as the conversation so far. It continues below; each section starts with a "
    "header line naming who speaks. Continue it with the assistant's next reply, without "
    "writing a header yourself."
)
Part = tuple[str, str]  # (role, text)


@dataclass(frozen=True, slots=True)
class Split:
    text: str  # the message text: the directive and the kept sections
    files: tuple[Blob, ...]  # the moved part, in conversation order


def split(sections: Sections, budget: int) -> Split | None:
    """Keep what the model needs within ``budget`` bytes (as ``wire_size`` counts) and move the
    rest into files; None when even the directive and closing rules do not fit."""
    messages = list(sections.messages)
    closing = [("system", sections.closing)] if sections.closing else []
    fence = 4 + max((_run(t) for _, t in [*messages, ("", sections.head())]), default=3)

    def head(system: str, preface: str) -> int:
        text = "\n\n".join(s for s in (system, preface) if s)
        return _cost([("system", text)], fence) if text else 0

    used = wire_size(DIRECTIVE.format(names=_names(MAX_FILES))) + _cost(closing, fence)
    if used > budget:
        return None
    preface = sections.preface if used + head("", sections.preface) <= budget else ""
    used += head("", preface)
    kept = 0  # messages kept, counted from the end
    if messages and used + _cost(messages[-1:], fence) <= budget:
        used, kept = used + _cost(messages[-1:], fence), 1
    system = sections.system
    if system and used + head(system, preface) - head("", preface) <= budget:
        used += head(system, preface) - head("", preface)
    else:
        system = ""
    while kept and kept < len(messages) and used + _cost([messages[-kept - 1]], fence) <= budget:
        used, kept = used + _cost([messages[-kept - 1]], fence), kept + 1
    moved: list[Part] = []
    if sections.system and not system:
        moved.append(("system", sections.system))
    if sections.preface and not preface:
        moved.append(("system", sections.preface))
    moved += messages[: len(messages) - kept]
    if not moved:
        return None  # nothing to move: the prompt is the directive and rules alone
    files = tuple(_file(number, chunk) for number, chunk in enumerate(_chunks(moved), 1))
    opening = "\n\n".join(s for s in (system, preface) if s)
    parts = ([("system", opening)] if opening else []) + messages[len(messages) - kept :] + closing
    directive = DIRECTIVE.format(names=", ".join(f.name for f in files))
    text = directive + "\n\n" + headed(parts)
    return Split(text, files) if wire_size(text) <= budget else None


def _chunks(moved: Sequence[Part]) -> list[list[Part]]:
    """Pack sections in order; file i closes once it reaches its size (the last never)."""
    chunks: list[list[Part]] = [[]]
    size = 0
    for part in moved:
        chunks[-1].append(part)
        size += len(part[1].encode())
        target = CHUNK_BYTES * 2 ** (len(chunks) - 1)
        if size >= target and len(chunks) < MAX_FILES:
            chunks.append([])
            size = 0
    return [c for c in chunks if c]


def _file(number: int, parts: Sequence[Part]) -> Blob:
    data = (FILE_PREAMBLE.format(number=number) + "\n\n" + headed(parts) + "\n").encode()
    return Blob(data, MEDIA_TYPE, f"conversation-{number}.txt", hashlib.sha256(data).hexdigest())


def _names(count: int) -> str:
    return ", ".join(f"conversation-{n}.txt" for n in range(1, count + 1))


def _cost(parts: Sequence[Part], fence: int) -> int:
    """An upper bound of the bytes ``parts`` add to the message text as it travels."""
    return sum(wire_size(text) + 2 * fence + len(role) + 6 for role, text in parts)


def _run(text: str) -> int:
    """The longest run of ``=`` opening a line of ``text``."""
    return max((len(line) - len(line.lstrip("=")) for line in text.split("\n")), default=0)
