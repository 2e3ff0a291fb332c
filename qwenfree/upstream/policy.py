"""What a failed upstream call does to the credential that met it: one table, read by both
routers (``ClientTokens`` in pass-through mode, ``AccountPool`` with server-held accounts).

A row is found by the error's class, most specific first (``UpstreamChallenged`` is an
``UpstreamUnavailable`` but has its own row). The columns:

* ``kind``: the cooldown's name (logs, the admin page; ``failing`` is the soft one);
* ``scope``: what is benched: this credential for this capability (chat type) only, the whole
  credential, or nobody (the failure is the request's own);
* ``seconds``: the ``Settings`` field holding how long; ``None`` means until a person acts;
* ``unattended``: the same where no operator can act (pass-through: the caller's own
  credential, held in memory), so the bench ends by itself;
* ``hard``: skipped until it ends; soft: tried last, and still tried when nothing else is left;
* ``refresh_first``: refresh the token (or sign in again) and try the same credential once more
  before benching it;
* ``site_wait``: the site's own wait (``retry_after``, e.g. "wait 4 hours") wins over ``seconds``;
* ``refused``: the site said the credential is not valid. Pass-through then answers 401 once
  every credential the caller sent was refused (the caller's key is wrong; a 503 would be
  retried by SDKs for minutes); key mode marks the account dead, and answers 503 (Anthropic
  529) when no account is left, since the caller is not at fault;
* ``counted``: an account's failure count (admin page) includes it;
* ``says``: the reason an operator reads on the admin page (``{}``: the error's message).

Two smaller tables judge a server-held account whose token could not be renewed: a failed
refresh (``REFRESH``) and a failed sign-in (``SIGN_IN``).

Whether the *same request* moves on to another credential is the error's ``retryable`` flag
(errors.py): a challenge is never retried elsewhere, a rate limit is.
"""

from __future__ import annotations

from dataclasses import dataclass

from qwenfree import errors
from qwenfree.settings import Settings

CAPABILITY = "capability"
CREDENTIAL = "credential"
NOBODY = "nobody"


@dataclass(frozen=True)
class Rule:
    kind: str
    scope: str
    seconds: str | None
    hard: bool
    unattended: str | None = None
    refresh_first: bool = False
    site_wait: bool = False
    refused: bool = False
    counted: bool = True
    says: str = "{}"

    def duration(self, err: errors.QwenfreeError, settings: Settings, *, attended: bool) -> float:
        """Seconds to bench for; ``inf`` until a person acts."""
        if self.site_wait and err.retry_after:
            return float(err.retry_after)
        name = self.seconds if attended else (self.unattended or self.seconds)
        return float(getattr(settings, name)) if name else float("inf")

    def capability(self, leased: str) -> str:
        """The capability a bench names: the leased one, or ``*`` for the whole credential."""
        return leased if self.scope == CAPABILITY else "*"


RULES: dict[type[errors.QwenfreeError], Rule] = {
    # A quota is per chat type (chat, images, videos: §11.1, §16.5): only that one waits.
    errors.UpstreamRateLimited: Rule(
        "rate_limited", CAPABILITY, "cooldown_rate_limited", hard=True, site_wait=True
    ),
    # Retrying a WAF punish from the same address deepens the block: minutes, whole credential.
    errors.UpstreamChallenged: Rule("challenged", CREDENTIAL, "cooldown_challenged", hard=True),
    errors.UpstreamTokenRejected: Rule(
        "dead",
        CREDENTIAL,
        None,
        hard=True,
        unattended="cooldown_rejected",
        refresh_first=True,
        refused=True,
        says="the site rejected the token ({}); add a fresh token, or the account's email and "
        "password so it can sign in by itself",
    ),
    # 5xx, resets, timeouts, empty answers: the site's trouble as much as the credential's.
    errors.UpstreamUnavailable: Rule("failing", CREDENTIAL, "cooldown_failure", hard=False),
    # An unreadable frame or a code no table knows says the site changed (or met a case nobody
    # has seen), not that this credential is sick: one caller's odd request benches nobody.
    errors.UpstreamProtocolError: Rule("protocol", NOBODY, None, hard=False),
    # Content refused, a chat gone or busy, bad input, a model that broke JSON mode.
    errors.QwenfreeError: Rule("request", NOBODY, None, hard=False, counted=False),
}


CHALLENGED = "met an anti-bot check ({})"

# The refresh token's session ended: only a person signing in brings it back.
REFRESH: dict[type[errors.QwenfreeError], Rule] = {
    errors.CredentialRevoked: Rule("dead", CREDENTIAL, None, hard=True, refused=True),
    errors.UpstreamChallenged: Rule(
        "challenged",
        CREDENTIAL,
        "cooldown_challenged",
        hard=True,
        says="the token refresh " + CHALLENGED,
    ),
    # Anything else may pass: tried last, and the next lease refreshes again.
    errors.QwenfreeError: Rule(
        "failing", CREDENTIAL, "cooldown_failure", hard=False, says="token refresh failed: {}"
    ),
}

SIGN_IN_REFUSED = "sign-in refused ({}): wrong email or password, or account locked"
SIGN_IN: dict[type[errors.QwenfreeError], Rule] = {
    # Several sign-ins from one address meet the WAF (§16.4): a challenge, not a bad password.
    errors.UpstreamChallenged: Rule(
        "challenged", CREDENTIAL, "cooldown_challenged", hard=True, says="sign-in " + CHALLENGED
    ),
    errors.UpstreamRejected: Rule(
        "dead", CREDENTIAL, None, hard=True, refused=True, says=SIGN_IN_REFUSED
    ),
    errors.UpstreamTokenRejected: Rule(
        "dead", CREDENTIAL, None, hard=True, refused=True, says=SIGN_IN_REFUSED
    ),
    errors.QwenfreeError: Rule(
        "signin_failed", CREDENTIAL, "cooldown_failure", hard=True, says="sign-in failed: {}"
    ),
}


def rule(err: errors.QwenfreeError, table: dict[type[errors.QwenfreeError], Rule] = RULES) -> Rule:
    """The row of ``table`` for the most specific class ``err`` is an instance of."""
    for cls in type(err).__mro__:
        if cls in table:
            return table[cls]
    raise TypeError(f"{type(err).__name__} is not a QwenfreeError")
