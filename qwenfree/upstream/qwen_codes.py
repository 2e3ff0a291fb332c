"""chat.qwen.ai's failures: business codes, free-text details and anti-bot markers mapped to our
errors by exact tables (one test per row: tests/unit/upstream/test_codes.py and
test_qwen_frames.py). Kept apart from the wire format in ``qwen.py``, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qwenfree import errors

# The site's business codes (§11.1, §16.2, §16.6), looked up exactly. One test per row.
CODES: dict[str, type[errors.QwenfreeError]] = {
    "RateLimited": errors.UpstreamRateLimited,  # a daily quota; data.num says how many hours
    "ParallelLimited": errors.UpstreamRateLimited,
    "Too_Many_Requests": errors.UpstreamRateLimited,
    "quotaLimited": errors.UpstreamRateLimited,
    "ExceedLimit": errors.UpstreamRateLimited,
    "quota_exhausted": errors.UpstreamRateLimited,
    # An expired, invalid or revoked credential: refresh or sign in, never a generic 502.
    "Unauthorized": errors.UpstreamTokenRejected,
    "UNAUTHORIZED": errors.UpstreamTokenRejected,
    "TokenExpired": errors.UpstreamTokenRejected,
    "InvalidToken": errors.UpstreamTokenRejected,
    "data_inspection_failed": errors.ContentFiltered,
    "Not_Found": errors.ChatNotFound,
    "CHAT_NOT_FOUND": errors.ChatNotFound,
    "PARENT_NOT_FOUND": errors.ChatNotFound,
    "Bad_Request": errors.UpstreamRejected,
    "RequestValidationError": errors.UpstreamRejected,
    "invalid_input": errors.UpstreamRejected,
    "internal_error": errors.UpstreamUnavailable,
}
# Codes too general to say what failed: the site words the failure only in its details.
GENERAL_CODES = {"", "Bad_Request", "internal_error"}
# Free-text details that decide beside a general or unknown code, first match wins ("*": any
# such code). The only substring tests on a business error. One test per row.
DETAILS: tuple[tuple[str, str, type[errors.QwenfreeError]], ...] = (
    ("*", "quota", errors.UpstreamRateLimited),  # internal_error "Allocated quota exceeded"
    ("*", "upper limit", errors.UpstreamRateLimited),  # "…upper limit for today's usage."
    ("*", "token has expired", errors.UpstreamTokenRejected),  # §16.2
    ("*", "invalid token", errors.UpstreamTokenRejected),
    ("*", "令牌已撤销", errors.UpstreamTokenRejected),  # revoked: "…请重新登录" (§16.3)
    ("*", "令牌已过期", errors.UpstreamTokenRejected),
    ("Bad_Request", "in progress", errors.ChatBusy),  # "The chat is in progress" (§16.6)
    ("Bad_Request", "internal error", errors.UpstreamUnavailable),  # transient (§11.1)
)

# Substrings that identify an anti-bot page (HTML or JSON). One table, one test per row.
CHALLENGE_MARKERS = (
    "aliyun_waf",
    "_____tmd_____",
    "x5secdata",
    "FAIL_SYS_USER_VALIDATE",
    "RGV587_ERROR",
    "punish",
    "captcha",
    "baxia",
    "nc_1_n1z",
    "AWSC",
    "安全验证",
    "请完成验证",
    "被挤爆",
    "errors.aliyun.com",  # Aliyun's block page (an IP or account blocked for a while)
    "block_message",
)


def business_error(body: Mapping[str, Any]) -> errors.QwenfreeError | None:
    """Return the error a JSON body or frame stands for, or None when it is not one."""
    if body.get("ret") and any(m in str(body["ret"]) for m in CHALLENGE_MARKERS):
        return errors.UpstreamChallenged("chat.qwen.ai answered with an anti-bot challenge")
    if isinstance(body.get("error"), Mapping):
        err = body["error"]
        return coded_error(
            str(err.get("code", "")), str(err.get("details") or err.get("message") or "")
        )
    if body.get("success") is False:
        data = body.get("data") if isinstance(body.get("data"), Mapping) else {}
        return coded_error(str(data.get("code", "")), str(data.get("details", "")), data.get("num"))
    return None


def coded_error(code: str, details: str, num: Any = None) -> errors.QwenfreeError:
    """Map an upstream error code (and, beside a general code, its details) to our error."""
    said = f"chat.qwen.ai: {code or 'error'}" + (f": {details}" if details else "")
    cls = CODES.get(code)
    if cls is None or code in GENERAL_CODES:
        lowered = details.lower()
        found = (c for on, words, c in DETAILS if on in ("*", code) and words in lowered)
        unknown = errors.UpstreamUnknownCode if code else errors.UpstreamUnavailable
        cls = next(found, cls or unknown)
    if cls is errors.UpstreamUnknownCode:
        return cls(
            f"{said} (a code this gateway does not know; `make doctor` shows the site's answers)"
        )
    if cls is errors.UpstreamRateLimited:
        hours = num if isinstance(num, int | float) and num > 0 else None
        return cls(said, retry_after=hours * 3600 if hours else None)
    return cls(said)


def page_error(text: str) -> errors.QwenfreeError:
    """Classify a non-SSE, non-JSON body (an HTML page)."""
    if any(m in text for m in CHALLENGE_MARKERS):
        return errors.UpstreamChallenged("chat.qwen.ai answered with an anti-bot challenge page")
    return errors.UpstreamUnavailable("chat.qwen.ai answered with an unexpected page")
