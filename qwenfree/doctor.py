"""``make doctor``: walk the calls the gateway depends on, once each, with one credential, and
say what the site answered and what to do about it (issue 21).

The steps are the site's own (``Backend.diagnose``: chat.qwen.ai or Tongyi); this module runs
them on a client of its own whose observer hears every call (real status, business code,
time), judges each step, and writes a report that is safe to paste: every string in it passes
through one redaction function that removes the credential, every token and id the walk met,
and anything shaped like a token, an email, an id or a signed URL.

    python -m qwenfree.doctor [--token CRED] [--account ID] [--media] [--json]

The credential: ``--token``, else ``QWEN_TOKEN``, else the first configured account
(``QWENFREE_ACCOUNTS`` / ``_FILE``). Exit code 0 only when every step passed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from qwenfree import errors
from qwenfree import store as stores
from qwenfree.chats import ChatJanitor
from qwenfree.settings import Settings
from qwenfree.store import Store
from qwenfree.upstream import browser, qwen, tongyi
from qwenfree.upstream.accounts import AccountSpec, parse_accounts
from qwenfree.upstream.backend import Backend, Probe
from qwenfree.upstream.calls import CallRecord
from qwenfree.upstream.client import UpstreamClient
from qwenfree.upstream.cookies import parse_header
from qwenfree.upstream.credentials import TokenKeeper
from qwenfree.upstream.qwen_backend import QwenBackend
from qwenfree.upstream.tongyi_backend import TongyiBackend

PASSED = ("ok", "skipped")
REPORT_ISSUE = "please report it with this output (the repository's bug report template)"


@dataclass
class Step:
    step: str
    endpoint: str = "-"
    http_status: int | None = None
    actual_status: str | None = None
    code: str | None = None
    details: str | None = None
    ms: float = 0.0
    verdict: str = "ok"

    def json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run(
    settings: Settings,
    spec: AccountSpec,
    *,
    media: bool = False,
    store: Store | None = None,
    open_store: Callable[[], Store] | None = None,
) -> dict[str, Any]:
    """Walk the site's steps with ``spec`` and return the redacted report (the JSON shape)."""
    records: list[CallRecord] = []
    ticket = bool(settings.tongyi_tickets and spec.token and tongyi.is_ticket(spec.token))
    site = tongyi.site(settings) if ticket else qwen.site(settings)
    client = UpstreamClient(settings, site, observers=[records.append])
    janitor = ChatJanitor(lambda chat_id, token: None, -1)  # the walk deletes its own chat
    backend: Backend = (
        TongyiBackend(settings, client, janitor)
        if ticket
        else QwenBackend(settings, client, janitor)
    )
    keeper = TokenKeeper(
        client, settings.auth_url, settings.refresh_ahead, store, open_store=open_store
    )
    secrets = known_secrets(spec)
    steps: list[Step] = []
    try:
        passed: set[str] = set()
        for probe in backend.diagnose(spec, keeper, media, secrets.append):
            step = _walk(probe, passed, records)
            if step.verdict == "ok":
                passed.add(probe.step)
            steps.append(step)
    finally:
        client.close()
    profile = browser.load(settings.browser_profile, settings.web_version)
    report = {
        "ok": all(s.verdict in PASSED for s in steps),
        "profile": site.profile,
        "web_version": profile.web_version if not ticket else "-",
        "steps": [s.json() for s in steps],
        "summary": summary(steps),
        "advice": advice(steps, spec, site.profile),
    }
    clean = redactor(secrets)
    return _mapped(report, clean)  # type: ignore[no-any-return]


def _walk(probe: Probe, passed: set[str], records: list[CallRecord]) -> Step:
    if probe.skip:
        return Step(probe.step, details=probe.skip, verdict="skipped")
    missing = [need for need in probe.needs if need not in passed]
    if missing:
        return Step(probe.step, details=f"not run: {missing[0]} did not pass", verdict="skipped")
    first, started = len(records), time.perf_counter()
    err: Exception | None = None
    try:
        found = probe.run()
    except Exception as exc:  # noqa: BLE001 - a diagnosis reports every failure, even ours
        err, found = exc, ""
    calls = records[first:]
    step = Step(probe.step, ms=round((time.perf_counter() - started) * 1000, 1))
    failed = [c for c in calls if c.error]
    shown = (failed[-1] if failed and err else None) or next(
        (c for c in calls if c.stream), calls[-1] if calls else None
    )
    if shown is not None:
        step.endpoint = f"{shown.method} {shown.path}"
        step.http_status, step.actual_status = shown.http_status, shown.actual_status
        step.code = shown.code
    unparsed = [u for c in calls for u in c.unparsed]
    step.verdict = verdict(probe.step, err, unparsed)
    if unparsed:
        step.details = "the parser did not understand: " + "; ".join(unparsed)
    elif err is not None:
        said = shown.details if shown is not None and shown.details else None
        message = err.message if isinstance(err, errors.QwenfreeError) else repr(err)
        step.details = message + (f" (site said: {said})" if said and said not in message else "")
    else:
        step.details = found or None
    return step


def verdict(step: str, err: Exception | None, unparsed: Sequence[str]) -> str:
    if unparsed or isinstance(err, errors.UpstreamProtocolError):
        return "changed shape"
    if err is None:
        return "ok"
    if isinstance(err, errors.UpstreamChallenged):
        return "challenged"
    if isinstance(err, errors.CredentialRevoked) or (
        step == "refresh" and isinstance(err, errors.UpstreamTokenRejected)
    ):
        return "revoked"
    if isinstance(err, errors.UpstreamTokenRejected):
        return "expired"
    if isinstance(err, errors.UpstreamRateLimited):
        return "rate limited"
    return "failed"


def summary(steps: Sequence[Step]) -> str:
    bad = [s for s in steps if s.verdict not in PASSED]
    ran = [s for s in steps if s.verdict != "skipped"]
    if not bad:
        return f"all {len(ran)} checks passed: the gateway can work with this credential"
    first = bad[0]
    blocked = sum(1 for s in steps if s.verdict == "skipped" and (s.details or "")[:7] == "not run")
    return (
        f"{len(bad)} of {len(ran)} checks did not pass; the first: {first.step} "
        f"({first.verdict}) at {first.endpoint}"
        + (f"; {blocked} more could not run after it" if blocked else "")
    )


def advice(steps: Sequence[Step], spec: AccountSpec, profile: str) -> list[str]:
    """What to do, one line per kind of trouble, in the order met."""
    said: list[str] = []
    copy = (
        "sign in at chat.qwen.ai in a browser and copy the refresh_token cookie (DevTools > "
        "Application > Cookies > chat.qwen.ai) into your credential (refresh_token= then the value)"
    )
    for s in steps:
        if s.verdict == "revoked":
            line = f"your refresh token was revoked or has expired: {copy}"
        elif s.verdict == "expired" and spec.token and "refresh_token=" not in spec.token:
            line = (
                "your access token expired or is invalid (one copied from the browser lives "
                f"about 15 minutes): {copy}"
            )
        elif s.verdict == "expired":
            line = f"the site refused the access token it had just issued: {copy}"
        elif s.verdict == "challenged":
            line = (
                "the site asked for a captcha (its anti-bot check): open chat.qwen.ai in a "
                "browser on this machine's network and solve it, or pass that browser's whole "
                "Cookie header as the credential (it carries x5sec and cna); if it persists, "
                f"compare the browser's request headers with the profile {profile} "
                "(QWENFREE_BROWSER_PROFILE, QWENFREE_WEB_VERSION), or try another network"
            )
        elif s.verdict == "rate limited":
            line = (
                "the account hit the site's usage limit: wait (the site's words are in the "
                "step's details) or add another account"
            )
        elif s.verdict == "changed shape":
            line = f"the site's answer changed shape at {s.endpoint} ({s.step}): {REPORT_ISSUE}"
        elif s.verdict == "failed" and s.step == "sign in":
            line = (
                "the site refused the sign-in: check the email and password, or use the "
                "refresh_token cookie instead (sign-ins are limited per address)"
            )
        elif s.verdict == "failed" and s.code == "Bad_Request":
            line = (
                f"the site refused the request at {s.endpoint}: the front-end version "
                f"(QWENFREE_WEB_VERSION) or the browser profile may be stale; {REPORT_ISSUE}"
            )
        elif s.verdict == "failed" and s.http_status is None:
            line = (
                f"{s.step} got no answer: check the network, proxies and QWENFREE_UPSTREAM_URL "
                "/ QWENFREE_AUTH_URL"
            )
        elif s.verdict == "failed":
            line = f"{s.step} failed: run the doctor again; if it persists, {REPORT_ISSUE}"
        else:
            continue
        if line not in said:
            said.append(line)
    return said


# --------------------------------------------------------------------------- redaction

COOKIE_VALUES = r"(?i)\b([\w-]*(?:token|ticket|cookie|x5sec|cna|acw_tc|ssxmod\w*)=)[^;\s,&\"']+"
UUID = r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"
PATTERNS: tuple[tuple[re.Pattern[str], str | None], ...] = (
    (re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), "[jwt]"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(COOKIE_VALUES), r"\1[redacted]"),
    (re.compile(r"(https?://[^/\s\"']+)/[^\s\"')]*"), r"\1/[path]"),
    (re.compile(UUID), None),  # chat ids and the like: hashed, so a report can be correlated
    (re.compile(r"\b[0-9a-fA-F]{32,}\b|[A-Za-z0-9+_-]{40,}={0,2}"), None),
)


def known_secrets(spec: AccountSpec) -> list[str]:
    """The credential and its parts (cookie values, password and its SHA-256)."""
    found = [v for v in (spec.token, spec.email, spec.password) if v]
    if spec.token and "=" in spec.token:
        found += list(parse_header(spec.token).values())
    if spec.password:
        found.append(hashlib.sha256(spec.password.encode()).hexdigest())
    return found


def redactor(secrets: Iterable[str]) -> Callable[[str], str]:
    """The one function every string of a report goes through."""

    def redact(text: str) -> str:
        for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
            text = text.replace(secret, "[redacted]")
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement or _hashed, text)
        return text

    return redact


def _hashed(match: re.Match[str]) -> str:
    return "[id:" + hashlib.sha256(match.group(0).encode()).hexdigest()[:6] + "]"


def _mapped(value: Any, clean: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {k: _mapped(v, clean) for k, v in value.items()}
    if isinstance(value, list):
        return [_mapped(v, clean) for v in value]
    return value


# --------------------------------------------------------------------------- output and CLI


def text(report: dict[str, Any], site: str) -> str:
    """The human report: a header, one line per step, the summary and the advice."""
    lines = [
        f"qwenfree doctor: {site}, browser profile {report['profile']}, "
        f"front-end version {report['web_version']}",
        "",
    ]
    for s in report["steps"]:
        lines.append(
            f"{s['verdict']:<13} {s['step']:<24} {s['endpoint']:<36} "
            f"http={_dash(s['http_status'])} actual={_dash(s['actual_status'])} "
            f"code={_dash(s['code'])} {s['ms']:>7.0f} ms"
            + (f"  {s['details']}" if s["details"] else "")
        )
    lines += ["", ("OK: " if report["ok"] else "NOT OK: ") + report["summary"]]
    lines += [f"- {line}" for line in report["advice"]]
    return "\n".join(lines) + "\n"


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def configured(settings: Settings) -> list[AccountSpec]:
    """The accounts of QWENFREE_ACCOUNTS and QWENFREE_ACCOUNTS_FILE, in order."""
    specs = parse_accounts(settings.accounts)
    if settings.accounts_file:
        listed = Path(settings.accounts_file).read_text(encoding="utf-8")
        specs += parse_accounts(listed, one_per_line=True)
    return specs


def choose(settings: Settings, given: str, account: str) -> AccountSpec:
    """The credential to check: given, QWEN_TOKEN, or a configured account (by id or alias)."""
    if given.strip() or settings.doctor_token:
        specs = parse_accounts(given.strip() or settings.doctor_token, one_per_line=True)
    else:
        specs = configured(settings)
    if account:
        specs = [s for s in specs if account in (s.id, "acct-" + s.id[:6])]
    if not specs:
        raise errors.InvalidRequest(
            "No credential to check: pass --token, set QWEN_TOKEN or QWENFREE_ACCOUNTS"
            + (f" (no account {account!r})" if account else "")
        )
    return specs[0]


def main(
    argv: Sequence[str] | None = None,
    environ: dict[str, str] | None = None,
    out: IO[str] | None = None,
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qwenfree.doctor",
        description="Check, call by call, that the upstream site works with a credential.",
    )
    parser.add_argument("--token", default="", help="the credential (else QWEN_TOKEN/accounts)")
    parser.add_argument("--account", default="", help="a configured account's id or alias")
    parser.add_argument("--media", action="store_true", help="also draw one picture (t2i)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    out = out or sys.stdout
    try:
        settings = Settings.from_env(environ)
        spec = choose(settings, args.token, args.account)
        opener = partial(stores.open_store, settings.store, settings.data_dir)  # on refresh
        report = run(settings, spec, media=args.media, open_store=opener)
    except (errors.QwenfreeError, ValueError, OSError) as exc:
        print(f"doctor: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    if args.json:
        out.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        ticket = settings.tongyi_tickets and spec.token and tongyi.is_ticket(spec.token)
        where = settings.tongyi_url if ticket else settings.upstream_url
        out.write(text(report, redactor(known_secrets(spec))(where)))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    # Failure log lines name paths and error messages unredacted (Python would print them on
    # stderr for want of a handler); the report says it all. Only here: the gateway's admin
    # route and the tests keep their logging.
    logging.getLogger("qwenfree").addHandler(logging.NullHandler())
    logging.getLogger("qwenfree").propagate = False
    sys.exit(main())
