"""Logging: one JSON object per line, with secrets redacted before anything is written."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s,\"']+(?:,[^\s,\"']+)*"),
    re.compile(r"(?i)(token=)[^\s;&\"']+"),
    re.compile(r"(?i)([?&]key=)[^\s&\"']+"),
    re.compile(r"()eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
)


def redact(text: str) -> str:
    """Replace bearer tokens, token cookies, ?key= values and JWT-shaped strings."""
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(r"\1[redacted]", text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(level: str) -> None:
    """Send qwenfree's logs as JSON lines to stderr (idempotent)."""
    logger = logging.getLogger("qwenfree")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_qwenfree", False) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        handler._qwenfree = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
