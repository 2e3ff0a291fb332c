"""Settings: one frozen value built once. ``Settings.from_env`` is the only code that reads the
process environment; tests build ``Settings(...)`` directly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Settings:
    upstream_url: str = "https://chat.qwen.ai"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # the longest silence between two upstream bytes
    upstream_pool_size: int = 100  # concurrent upstream connections per worker
    # The proxy every upstream call goes through ("http://host:3128", "socks5://..." needs
    # PySocks); "" = none. The environment's HTTP(S)_PROXY is not read: requests would look it
    # up (and ~/.netrc) again on every call.
    upstream_proxy: str = ""
    chat_ttl: float = 600.0  # seconds idle before our upstream chats are deleted; 0 now, -1 never
    # Chats created ahead per account, model and chat type (upstream/warm_chats.py), as many as
    # were used in the last 5 minutes up to this; 0 = off (every request creates its chat).
    warm_chats: int = 2
    # What the "default" alias means: this model while the site lists it; "" or an unlisted
    # id = the site's own first (flagship) model, so the default follows the site's list.
    default_model: str = ""
    # The second backend: with tongyi_tickets on, credentials that are not chat.qwen.ai JWTs are
    # Tongyi tickets (tongyi_sso_ticket / login_aliyunid_ticket) and go to tongyi_url.
    tongyi_tickets: bool = False
    tongyi_url: str = "https://qianwen.biz.aliyun.com"
    tongyi_default_model: str = "qwen3-235b-a22b"  # what the default model means on Tongyi
    # Names that clients hard-code, mapped to Qwen models: comma-separated ``glob=model`` pairs,
    # first match wins; ``default`` means ``default_model``. Real model names always win.
    model_aliases: str = "claude-*=default,gemini-*=default,auto=default"
    models_ttl: float = 600.0
    max_body_mb: int = 32
    # Slow clients (gunicorn worker, qwenfree/worker.py): a request's line and headers must
    # arrive within header_timeout seconds of its first byte, and each read of its body within
    # body_timeout seconds of the previous one; else the connection is closed.
    header_timeout: float = 5.0
    body_timeout: float = 30.0
    # Bounded parsing (qwenfree/bounds.py): the shape of any JSON body, checked before any
    # per-item work. Claude Code's requests are ~15 levels deep with ~10 values per message, and
    # a conversation the upstream accepts (max_prompt_kb) has far fewer than 2,000 messages.
    # Parsing a body at these limits keeps a gevent worker busy for well under 0.1 s at a
    # stretch, so /healthz on the same worker keeps answering (tests/api/test_bounds.py).
    max_json_depth: int = 64  # arrays/objects inside each other; deeper is a 400
    max_json_values: int = 40_000  # values in the whole body; more is a 413
    max_json_items: int = 2_000  # entries of one array or object (messages, parts …); 413
    # Largest request body (KiB) we send upstream: the chat.qwen.ai WAF answers bodies above
    # ~128 KB with a captcha. Longer conversations travel partly as attached text files
    # (long_prompt.py); where a site takes no files (Tongyi) they get the dialect's "prompt is
    # too long" error (so clients compact); 0 disables the check.
    max_prompt_kb: int = 120
    # The web chat's own tools (web extractor, code interpreter, image tools, ...) fire on
    # prompts that describe the caller's tools; they are switched off per account
    # (settings/update, once per access token: again after each sign-in or refresh) before
    # "tools": the first request that carries the caller's own tools; "always": any first
    # request; "never": accounts are left as they are. The switch is account-wide and lasting.
    native_tools_off: str = "tools"
    # Tool descriptions longer than this are cut (at a paragraph or sentence end) in the prompt:
    # Claude Code's 24 tools describe themselves in ~45 KB. 0 keeps them whole.
    tool_description_chars: int = 2000
    heartbeat_interval: float = 15.0  # ping comments while the upstream is silent; 0 = off
    # Files callers send (images, documents, audio, video): the largest accepted, in MiB after
    # decoding; a URL is fetched with this cap enforced while reading.
    max_file_mb: int = 20
    # Files attached to one upstream message: the newest are attached, older ones stay notes
    # in the text. The web client allows 5 images and 5 documents per message.
    max_attachments: int = 5
    # Host names (or IP addresses) a caller's URL may name although they resolve to private
    # addresses, comma-separated. Empty = public addresses only. For tests and trusted intranets.
    fetch_allow_hosts: str = ""
    fetch_timeout: float = 10.0  # connect and read timeout for a caller's URL (3x overall)
    upload_cache_size: int = 512  # uploads remembered per worker, by account and content hash
    upload_cache_ttl: float = 3600.0
    parse_timeout: float = 120.0  # how long the upstream may take to read a document
    poll_interval: float = 1.0  # between document parse status checks
    video_poll_interval: float = 10.0  # between video task status checks
    video_timeout: float = 1200.0  # a video task that takes longer fails with a timeout
    cooldown_rate_limited: float = 3600.0  # when the upstream gives no wait time
    cooldown_failure: float = 30.0
    cooldown_rejected: float = 600.0
    cooldown_challenged: float = 300.0
    log_level: str = "INFO"
    # The browser chat.qwen.ai must believe it talks to (upstream/browser.py): a JSON file that
    # replaces fields of the built-in profile; "" = built in. web_version overrides its
    # front-end version ("" = the profile's).
    browser_profile: str = ""
    web_version: str = ""
    # Browser origins allowed to call the API cross-origin (CORS), comma-separated, e.g.
    # "https://chat.example.com"; "*" = any origin. Empty = no CORS headers at all (default).
    cors_origins: str = ""
    # --- server-held accounts and caller keys (README "Accounts and keys"). Without api_keys
    # callers send their own chat.qwen.ai tokens and nothing below is used.
    api_keys: str = field(default="", repr=False)  # our callers' keys, comma/newline separated
    admin_key: str = field(default="", repr=False)  # the admin API's key; never a caller key
    accounts: str = field(default="", repr=False)  # tokens and/or email:password entries
    accounts_file: str = ""  # the same, one entry per line (# comments allowed)
    data_dir: str = "./data"  # the SQLite state file lives here (mode 0600)
    store: str = ""  # "" = SQLite in data_dir; "redis://host:6379/0" shares state between hosts
    rate_limit: str = ""  # requests per caller key, e.g. "60/minute"; "" = unlimited
    account_concurrency: int = 2  # answers streaming at once per account, all workers; 0 = no cap
    account_wait: float = 5.0  # seconds a request waits for a busy account before a 429
    lease_ttl: float = 1800.0  # an unreleased lease (a crashed worker) stops counting after this
    refresh_margin: float = 86400.0  # sign in again when a token has less than this left
    # --- credentials that keep working (README "Your credential")
    auth_url: str = "https://auth.qwen.ai"  # where refresh tokens are exchanged
    refresh_ahead: float = 180.0  # refresh an access token this long before it expires
    signin_interval: float = 5.0  # at most one sign-in per this many seconds (store-wide)
    # The credential `make doctor` checks when none is given on its command line; read from
    # QWEN_TOKEN (the name users already know), not a QWENFREE_ one. The gateway ignores it.
    doctor_token: str = field(default="", repr=False)
    # Where prometheus_client keeps per-process files when gunicorn runs several workers; read
    # from PROMETHEUS_MULTIPROC_DIR (the library's own variable), not a QWENFREE_ one.
    metrics_multiproc_dir: str = ""

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
                values[f.name] = _convert(default, raw)
            except ValueError as exc:
                raise ValueError(f"QWENFREE_{f.name.upper()}: {exc}") from None
        if doctor_token := env.get("QWEN_TOKEN", "").strip():
            values["doctor_token"] = doctor_token
        if multiproc := env.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
            values["metrics_multiproc_dir"] = multiproc
        for url in ("upstream_url", "tongyi_url", "auth_url"):
            if url in values:
                values[url] = _site_url(f"QWENFREE_{url.upper()}", str(values[url]))
        return cls(**values)  # type: ignore[arg-type]


def _site_url(name: str, raw: str) -> str:
    """An upstream base URL: http(s), a host, no credentials or query (they would show in the
    errors that name the host)."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name}: expected http(s)://host[:port][/path]")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{name}: no user, password, query or fragment in the URL")
    return raw.rstrip("/")


def _convert(default: object, raw: str) -> object:
    """Parse ``raw`` as the type of ``default``; booleans take the usual words."""
    if isinstance(default, bool):
        words = {
            "1": True,
            "true": True,
            "yes": True,
            "on": True,
            "0": False,
            "false": False,
            "no": False,
            "off": False,
        }
        if raw.lower() not in words:
            raise ValueError(f"expected true or false, got {raw!r}")
        return words[raw.lower()]
    return type(default)(raw)
