"""The one token estimate: count_tokens (Anthropic, Gemini), usage where a site reports none,
and the context-length check all use it, so what a caller is told matches what is refused.

One token per 4 bytes of the text as it travels upstream (JSON-escaped, non-ASCII as
``\\uXXXX``): about 4 characters of English, 1.5 tokens per CJK character, which is close to
what Qwen's tokenizer gives for Chinese, so no separate CJK rule is needed.
"""

from __future__ import annotations

import json

BYTES_PER_TOKEN = 4


def wire_size(text: str) -> int:
    """Bytes the text takes in the upstream request body (``requests`` escapes non-ASCII)."""
    return len(json.dumps(text))


def estimate(text: str) -> int:
    """Tokens of ``text`` by the documented estimate (rounded up)."""
    return -(-wire_size(text) // BYTES_PER_TOKEN)


def of_bytes(size: int) -> int:
    """Tokens that fit ``size`` bytes of travelling text (rounded down)."""
    return size // BYTES_PER_TOKEN
