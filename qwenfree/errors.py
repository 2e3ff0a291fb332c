"""Error hierarchy shared by every layer.

Each class carries a neutral ``kind`` and a default HTTP ``status``; dialects turn ``kind`` into
their own envelope through tables, so nothing here knows a dialect, Flask or requests::

    QwenfreeError                    base; .message, .kind, .status, .retry_after
    ├── ClientError             400  the caller's fault; never retried
    │   ├── InvalidRequest      400
    │   │   └── PromptTooLong   400  the flattened prompt exceeds the upstream's safe size
    │   ├── Unauthorized        401  no key, or not one of ours
    │   │   └── CredentialRejected 401  pass-through: the site refused every credential sent
    │   ├── ModelNotFound       404
    │   ├── NotFound            404  no such route or resource
    │   ├── MethodNotAllowed    405
    │   ├── PayloadTooLarge     413
    │   ├── KeyRateLimited      429  the caller's key spent its requests for this window
    │   └── Unimplemented       501  a method the upstream cannot serve (Gemini embeddings)
    ├── UpstreamError           502  talking to the upstream site failed
    │   ├── UpstreamUnavailable 502  connect error, reset, 5xx
    │   │   ├── UpstreamTimeout 504  connect/read timeout, silence mid-stream
    │   │   ├── UpstreamChallenged 502  WAF / captcha page; never retried elsewhere
    │   │   └── UpstreamEmpty   502  the stream ended without an answer
    │   ├── UpstreamRateLimited 429  quota reached; .retry_after
    │   ├── UpstreamTokenRejected 503  the site refused the token (the caller is not at fault)
    │   │   └── CredentialRevoked 503  the refresh token itself was refused
    │   ├── UpstreamRejected    400  request refused upstream
    │   │   ├── ContentFiltered 400  content policy
    │   │   ├── ChatBusy        400  the chat still answers an earlier message
    │   │   └── ChatNotFound    404  the chat or parent a continuation names is gone
    │   ├── UpstreamProtocolError 502  unparseable body, frames out of order
    │   │   └── UpstreamUnknownCode 502  an error code this gateway does not know
    │   └── ModelOutputInvalid  502  the model could not produce the required JSON
    ├── NoTokenAvailable        429  every credential is cooling down; .retry_after
    │   └── NoAccountUsable     503  no account can serve and none recovers by itself
    └── StoreUnavailable        503  the state store (SQLite or Redis) failed

What each upstream failure does to the credential that met it is ``upstream/policy.py``'s
table; ``tests/unit/test_errors.py`` checks this tree against the classes.
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


class CredentialRejected(Unauthorized):
    """Every credential the caller sent was refused by the site (pass-through mode): 401, so
    clients stop instead of retrying a 503 for minutes."""


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


class KeyRateLimited(ClientError):
    """The caller's key spent its requests for this window."""

    status = 429
    kind = "rate_limited"


class Unimplemented(ClientError):
    """A method the upstream cannot serve (Gemini embeddings)."""

    status = 501
    kind = "unimplemented"


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


class CredentialRevoked(UpstreamTokenRejected):
    """The refresh token itself was refused: nobody but a person signing in can fix it."""

    kind = "token_revoked"
    retryable = True  # another of the caller's credentials may still work


class UpstreamRejected(UpstreamError):
    status = 400
    kind = "upstream_rejected"


class ContentFiltered(UpstreamRejected):
    kind = "content_filter"


class ChatBusy(UpstreamRejected):
    """The chat still answers an earlier message ("The chat is in progress"): another chat
    would take the message."""

    kind = "chat_busy"


class ChatNotFound(UpstreamRejected):
    """The upstream chat or parent node named by a continuation is gone."""

    status = 404
    kind = "chat_not_found"


class UpstreamProtocolError(UpstreamError):
    kind = "upstream_protocol"


class UpstreamUnknownCode(UpstreamProtocolError):
    """The site answered with an error code no table here knows: the site changed, or the
    request met a case nobody has seen. Not retried on another credential and nobody is benched
    (one caller's odd request must not bench every account); the message names the code."""

    kind = "upstream_unknown_code"


class ModelOutputInvalid(UpstreamError):
    """The answer broke the caller's output contract (JSON mode) even after one retry."""

    kind = "invalid_model_output"


class NoTokenAvailable(QwenfreeError):
    status = 429
    kind = "no_token"


class NoAccountUsable(NoTokenAvailable):
    """No account can serve and none will recover by itself: an operator must act."""

    status = 503


class StoreUnavailable(QwenfreeError):
    """The state store (SQLite file or Redis) failed; nothing can be routed without it."""

    status = 503
    kind = "store_unavailable"
