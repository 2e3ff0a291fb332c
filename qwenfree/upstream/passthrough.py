"""ClientTokens: the router of pass-through mode (no ``QWENFREE_API_KEYS``), where each caller
sends its own chat.qwen.ai credentials as the API key (``Bearer C1,C2``).

Each credential may be an access token, a refresh token or a browser cookie string
(``credentials.py``); the keeper turns it into a current access token, refreshing ahead of
expiry and once more when the site refuses the token mid-life. Credentials are ordered by
:class:`TokenHealth` (in memory, per worker: they belong to the callers). When every credential
the caller sent was refused, the answer is 401 in the caller's dialect — "your key is wrong" —
rather than 503/529, which SDKs and Claude Code would retry for minutes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from qwenfree import errors
from qwenfree.settings import Settings
from qwenfree.upstream import policy
from qwenfree.upstream.accounts import Lease, TokenHealth, fingerprint, jwt_exp, mask
from qwenfree.upstream.credentials import Credential, TokenKeeper, parse
from qwenfree.upstream.turn import Handle

LASTING = (
    "Send a credential that lasts: the refresh_token cookie of chat.qwen.ai "
    "(developer tools -> Application -> Cookies -> https://chat.qwen.ai -> refresh_token) as "
    "'refresh_token=<value>', or the whole Cookie header of a signed-in page"
)


class ClientTokens:
    """The caller's own credentials, health kept per worker in memory."""

    def __init__(
        self, settings: Settings, keeper: TokenKeeper, health: TokenHealth | None = None
    ) -> None:
        self.settings = settings
        self.keeper = keeper
        self.health = health or TokenHealth()

    def catalog_token(self, tokens: Sequence[str]) -> str | None:
        """An access token to list models with (None when the first credential cannot give
        one now; the catalog then falls back and the answer itself reports the credential)."""
        if not tokens:
            raise errors.Unauthorized(
                "Send your chat.qwen.ai credential as the API key "
                "('Authorization: Bearer <credential>' or 'x-api-key: <credential>')"
            )
        cred = parse(tokens[0])
        try:
            return self.keeper.access(cred.key, cred)
        except errors.QwenfreeError:
            return None

    def leases(
        self, tokens: Sequence[str], capability: str, prefer: str | None = None
    ) -> Iterator[Lease]:
        """Each usable credential once (twice after a refresh), healthy first; 401 at the end
        when the site refused every one of them."""
        refused: list[str] = []
        tried = 0
        for raw in self.health.order(tokens, capability):
            cred, stale = parse(raw), None
            while True:
                try:
                    access = self.keeper.access(cred.key, cred, stale)
                except errors.CredentialRevoked as err:
                    self._bench(raw, err, capability)
                    refused.append(f"{cred.kind} {mask(raw)}: {err.message}")
                    tried += 1
                    break
                lease = Lease(access, mask(raw), capability, credential=raw)
                lease.refreshed = stale is not None
                yield lease
                if lease.retry:  # refused mid-life: refreshed, one more try
                    stale = access
                    continue
                tried += 1
                if lease.rejected:
                    refused.append(_refused(cred))
                break
        if tried and len(refused) == tried:
            raise errors.CredentialRejected(
                "chat.qwen.ai rejected the credential"
                + ("s" if tried > 1 else "")
                + ": "
                + "; ".join(refused)
                + ". "
                + LASTING
            )

    def tag(self, lease: Lease, tokens: Sequence[str], chat_id: str, response_id: str) -> str:
        """The credential's fingerprint: only a caller who sends that credential can use it."""
        return lease.fp

    def owner(self, handle: Handle, tokens: Sequence[str]) -> str | None:
        mine = any(fingerprint(raw) == handle.token_fp for raw in tokens)
        return handle.token_fp if mine else None

    def report(self, lease: Lease, err: errors.QwenfreeError) -> None:
        """Bench the credential as the failure-policy table says (policy.py)."""
        rule = policy.rule(err)
        raw = lease.credential or lease.token
        if rule.scope == policy.NOBODY:
            return
        if rule.refresh_first and parse(raw).refresh and not lease.refreshed:
            lease.retry = lease.refreshed = True  # leases() refreshes it and tries once more
            return
        lease.rejected = rule.refused
        self._bench(raw, err, lease.capability)

    def _bench(self, raw: str, err: errors.QwenfreeError, capability: str) -> None:
        rule = policy.rule(err)
        self.health.cool(
            raw,
            rule.duration(err, self.settings, attended=False),
            hard=rule.hard,
            refused=rule.refused,
            capability=rule.capability(capability),
        )

    def succeeded(self, lease: Lease) -> None:
        self.health.recover(lease.credential or lease.token)


def _refused(cred: Credential) -> str:
    if cred.refresh:
        return f"{cred.kind} {mask(cred.raw)}: refused even after a refresh"
    if jwt_exp(cred.raw) is None:
        return f"credential {mask(cred.raw)}: expired or invalid"
    return (
        f"access token {mask(cred.raw)}: expired or invalid (access tokens copied from the "
        "browser now live about 15 minutes)"
    )
