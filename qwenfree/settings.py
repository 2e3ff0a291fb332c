"""Settings: one frozen value built once. ``Settings.from_env`` is the only code that reads the
process environment; tests build ``Settings(...)`` directly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Settings:
    upstream_url: str = "https://chat.qwen.ai"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # the longest silence between two upstream bytes
    upstream_pool_size: int = 100  # concurrent upstream connections per worker
    chat_ttl: float = 600.0  # seconds idle before our upstream chats are deleted; 0 now, -1 never
    default_model: str = "qwen3-max"
    # Names that clients hard-code, mapped to Qwen models: comma-separated ``glob=model`` pairs,
    # first match wins; ``default`` means ``default_model``. Real model names always win.
    model_aliases: str = "claude-*=default,gemini-*=default,auto=default"
    models_ttl: float = 600.0
    max_body_mb: int = 32
    # Largest request body (KiB) we send upstream: the chat.qwen.ai WAF answers bodies above
    # ~128 KB with a captcha. Longer conversations get the dialect's "prompt is too long" error
    # (so clients compact) instead of being sent; 0 disables the check.
    max_prompt_kb: int = 120
    # Tool descriptions longer than this are cut (at a paragraph or sentence end) in the prompt:
    # Claude Code's 24 tools describe themselves in ~45 KB. 0 keeps them whole.
    tool_description_chars: int = 2000
    heartbeat_interval: float = 15.0  # ping comments while the upstream is silent; 0 = off
    cooldown_rate_limited: float = 3600.0  # when the upstream gives no wait time
    cooldown_failure: float = 30.0
    cooldown_rejected: float = 600.0
    cooldown_challenged: float = 300.0
    log_level: str = "INFO"
    web_version: str = "0.2.81"  # the chat.qwen.ai front-end version our headers imitate

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``QWENFREE_*`` variables; unknown or empty ones keep defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get("QWENFREE_" + f.name.upper(), "").strip()
            if not raw:
                continue
            default = getattr(cls, f.name)
            try:
                values[f.name] = type(default)(raw)
            except ValueError as exc:
                raise ValueError(f"QWENFREE_{f.name.upper()}: {exc}") from None
        if "upstream_url" in values:
            values["upstream_url"] = str(values["upstream_url"]).rstrip("/")
        return cls(**values)  # type: ignore[arg-type]
