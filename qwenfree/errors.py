"""Error hierarchy shared by every layer.

Each class carries a neutral ``kind`` and a default HTTP ``status``; dialects turn ``kind`` into
their own envelope through tables, so nothing here knows a dialect, Flask or requests::

    QwenfreeError
    ├── ClientError                  the caller's fault; never retried
    │   ├── InvalidRequest      400
    │   │   └── PromptTooLong   400  the flattened prompt exceeds the upstream's safe size
    │   ├── Unauthorized        401
    │   ├── ModelNotFound       404
    │   └── PayloadTooLarge     413
    ├── UpstreamError                talking to chat.qwen.ai failed
    │   ├── UpstreamUnavailable 502  connect error, reset, 5xx
    │   │   ├── UpstreamTimeout 504  connect/read timeout, silence mid-stream
    │   │   ├── UpstreamChallenged 502  WAF / captcha page; the token backs off for minutes
    │   │   └── UpstreamEmpty   502  the stream ended without an answer
    │   ├── UpstreamRateLimited 429  quota reached; .retry_after
    │   ├── UpstreamTokenRejected 503  the upstream refused the token (the caller is not at fault)
    │   ├── UpstreamRejected    400  content policy / request refused upstream
    │   ├── UpstreamProtocolError 502  unparseable body, frames out of order
    │   └── ModelOutputInvalid 502  the model could not produce the required JSON
    └── NoTokenAvailable        429  every token is cooling down; .retry_after
"""

from __future__ import annotations


class QwenfreeError(Exception):
    """Base class: a message for humans, a neutral kind, an HTTP status."""

    status = 500
    kind = "internal"
    retryable = False  # would another upstream token likely succeed?

    def __init__(self, message: str, *, retry_after: float | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.param = param


class ClientError(QwenfreeError):
    status = 400
    kind = "invalid_request"


class InvalidRequest(ClientError):
    pass


class PromptTooLong(InvalidRequest):
    """Raised before anything is sent upstream; dialects word it so clients compact history."""

    kind = "context_length_exceeded"


class Unauthorized(ClientError):
    status = 401
    kind = "unauthorized"


class ModelNotFound(ClientError):
    status = 404
    kind = "model_not_found"


class NotFound(ClientError):
    status = 404
    kind = "not_found"


class MethodNotAllowed(ClientError):
    status = 405
    kind = "method_not_allowed"


class PayloadTooLarge(ClientError):
    status = 413
    kind = "payload_too_large"


class UpstreamError(QwenfreeError):
    status = 502
    kind = "upstream_error"


class UpstreamUnavailable(UpstreamError):
    kind = "upstream_unavailable"
    retryable = True


class UpstreamTimeout(UpstreamUnavailable):
    status = 504
    kind = "upstream_timeout"


class UpstreamChallenged(UpstreamUnavailable):
    kind = "upstream_challenged"
    # Retrying a WAF punish from the same address deepens the block.
    retryable = False


class UpstreamEmpty(UpstreamUnavailable):
    kind = "upstream_empty"


class UpstreamRateLimited(UpstreamError):
    status = 429
    kind = "rate_limited"
    retryable = True


class UpstreamTokenRejected(UpstreamError):
    status = 503
    kind = "token_rejected"
    retryable = True


class UpstreamRejected(UpstreamError):
    status = 400
    kind = "upstream_rejected"


class ContentFiltered(UpstreamRejected):
    kind = "content_filter"


class UpstreamProtocolError(UpstreamError):
    kind = "upstream_protocol"


class ModelOutputInvalid(UpstreamError):
    """The answer broke the caller's output contract (JSON mode) even after one retry."""

    kind = "invalid_model_output"


class NoTokenAvailable(QwenfreeError):
    status = 429
    kind = "no_token"


class ChatBusy(UpstreamRejected):
    """The chat still answers an earlier message ("The chat is in progress"): another chat
    would take the message."""

    kind = "chat_busy"


class ChatNotFound(UpstreamRejected):
    """The upstream chat or parent node named by a continuation is gone."""

    status = 404
    kind = "chat_not_found"
