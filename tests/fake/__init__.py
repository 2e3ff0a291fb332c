"""A fake chat.qwen.ai: a real HTTP server on loopback that speaks the web chat's protocol, in
the dialect of mid-2026 ("legacy") or of September 2026 ("2026-09", §16). Standard library only.
What each mode enforces: tests/fake/README.md. ``tests/fake_upstream.py`` re-exports all of it.

Modules: frames (script steps, frame builders), scripts (ready answers), state (records, models,
tokens), site (the per-mode rules: header gate, wire status), auth / chats / media (endpoints),
server (FakeUpstream), http (plumbing).
"""

from .frames import (
    CHAT_GONE,
    COMPLETIONS,
    DEFAULT_SEARCH,
    DEFAULT_TEXT,
    DEFAULT_THINKING,
    MODERATION,
    MUST_THINK,
    NEEDS_FEATURE_CONFIG,
    PNG,
    QUOTA,
    Drop,
    Frame,
    Raw,
    SavedImage,
    Script,
    Stall,
    _answer_frames,
    _created,
    _delta,
    _encode,
    _finished,
    _now,
    _search_delta,
    _split,
    _thinking_frames,
    _Tokens,
    _uid,
    _with_rid,
)
from .scripts import (
    _json,
    aliyun_block,
    answer,
    business_error,
    drop_after,
    dual_candidates,
    empty_stream,
    http_error,
    image_edit_answer,
    image_in_chat_only,
    in_stream_error,
    infinite,
    rate_limited,
    slow_first_byte,
    split_utf8,
    stall_after,
    thinking_only,
    unknown_frame,
    waf_html,
    waf_json,
    with_heartbeats,
)
from .server import FakeUpstream
from .site import GATE, LEGACY, MODES, REVOKED, SEP_2026, envelope, punish, site_error
from .state import (
    BUCKET,
    Chat,
    Recorded,
    RefreshToken,
    StoredFile,
    VideoTask,
    _Ctx,
    _jwt_payload,
    account_id,
    default_models,
    mint_token,
    oss_signature,
    user_of,
)

__all__ = [
    "BUCKET", "CHAT_GONE", "COMPLETIONS", "DEFAULT_SEARCH", "DEFAULT_TEXT", "DEFAULT_THINKING",
    "GATE", "LEGACY", "MODERATION", "MODES", "MUST_THINK", "NEEDS_FEATURE_CONFIG", "PNG", "QUOTA",
    "REVOKED", "SEP_2026", "Chat", "Drop", "FakeUpstream", "Frame", "Raw", "Recorded",
    "RefreshToken", "SavedImage", "Script", "Stall", "StoredFile", "VideoTask", "_Ctx", "_Tokens",
    "_answer_frames", "_created", "_delta", "_encode", "_finished", "_json", "_jwt_payload",
    "_now", "_search_delta", "_split", "_thinking_frames", "_uid", "_with_rid", "account_id",
    "aliyun_block", "answer", "business_error", "default_models", "drop_after",
    "dual_candidates", "empty_stream", "envelope", "http_error", "image_edit_answer",
    "image_in_chat_only", "in_stream_error", "infinite", "mint_token", "oss_signature",
    "punish", "rate_limited", "site_error", "slow_first_byte", "split_utf8", "stall_after",
    "thinking_only", "unknown_frame", "user_of", "waf_html", "waf_json", "with_heartbeats",
]  # fmt: skip
