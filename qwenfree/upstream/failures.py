"""How a failed upstream call becomes one of our errors: transport exceptions (``mapped_errors``)
and answers whose real status or body says they failed (``status_error``); ``body_fields`` reads
the site's business code and details for log lines and ``make doctor``."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator

import requests
import urllib3.exceptions

from qwenfree import errors
from qwenfree.upstream import qwen
from qwenfree.upstream.site import Site

CODE = re.compile(r'"(?:code|errorCode)"\s*:\s*"([A-Za-z0-9_.:-]{1,60})"')
DETAILS = re.compile(r'"(?:details|message|msg)"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


@contextlib.contextmanager
def mapped_errors(site: str = qwen.NAME) -> Iterator[None]:
    """Translate transport exceptions, including those raised while a body is iterated."""
    try:
        yield
    except (requests.ConnectTimeout, requests.ReadTimeout, urllib3.exceptions.TimeoutError) as exc:
        raise errors.UpstreamTimeout(f"{site} did not answer in time") from exc
    except requests.ConnectionError as exc:
        if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
            raise errors.UpstreamTimeout(f"{site} went silent mid-answer") from exc
        raise errors.UpstreamUnavailable(f"cannot reach {site}") from exc
    except (
        requests.RequestException,
        urllib3.exceptions.HTTPError,
        OSError,
    ) as exc:
        raise errors.UpstreamUnavailable(f"the connection to {site} broke") from exc


def status_error(
    status: int, body: str, retry_after: str | None, site: Site | None = None
) -> errors.QwenfreeError:
    """Map a failed call's real status (and its body) to an error: what the body says wins
    (a JSON business error, a challenge page), then the status."""
    name = site.name if site else qwen.NAME
    stripped = body.lstrip()
    if stripped.startswith("<") and any(m in body for m in qwen.CHALLENGE_MARKERS):
        return (site.page_error if site else qwen.page_error)(body)
    if stripped.startswith("{"):
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            parsed = None
        business_error = site.business_error if site else qwen.business_error
        err = business_error(parsed) if isinstance(parsed, dict) else None
        # A code we do not know says less than the real status beside it.
        vague = type(err) in (errors.UpstreamUnavailable, errors.UpstreamUnknownCode)
        if err is not None and vague and status >= 500:
            return errors.UpstreamUnavailable(err.message)  # the site's trouble, in its words
        if err is not None and not (vague and status in (401, 403, 429)):
            return err
    if status in (401, 403):
        return errors.UpstreamTokenRejected(f"{name} refused the token (expired or invalid)")
    if status == 429:
        seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
        return errors.UpstreamRateLimited(f"{name} is rate limiting", retry_after=seconds)
    if status >= 500:
        return errors.UpstreamUnavailable(f"{name} answered HTTP {status}")
    return errors.UpstreamRejected(f"{name} answered HTTP {status}")


def business_code(text: str) -> str:
    """The site's own error code in a failure body ("challenge" for an anti-bot page)."""
    found = CODE.search(text[:4096])
    if found:
        return found.group(1)
    return "challenge" if any(m in text for m in qwen.CHALLENGE_MARKERS) else ""


def business_details(text: str) -> str:
    """The site's own words about a failure (``details``/``message``), for the doctor's report
    (which redacts it); never logged."""
    found = DETAILS.search(text[:4096])
    if not found:
        return ""
    try:
        return str(json.loads(f'"{found.group(1)}"'))
    except json.JSONDecodeError:
        return found.group(1)
