"""The browser we look like to chat.qwen.ai: one profile of data, built in or read from a file.

Since September 2026 the site's WAF answers every request that does not carry the browser's own
``fetch`` header set with a slider captcha (upstream-chat-qwen-ai.md §16.1). What "the browser's
set" is changes with Chrome releases and the site's front end, so it is data an operator can
replace without a release: ``QWENFREE_BROWSER_PROFILE=/path/profile.json`` with any of the
fields of :class:`BrowserProfile` (missing ones keep the built-in values)::

    {"name": "chrome-150-mac", "user_agent": "Mozilla/5.0 (Macintosh; ...) Chrome/150.0.0.0 ...",
     "sec_ch_ua": "\\"Chromium\\";v=\\"150\\", ...", "platform": "\\"macOS\\"",
     "web_version": "0.3.14", "extra_headers": {"x-some-new-header": "1"}}

The name travels into every upstream failure log line and into ``make doctor``'s report, so a
drift of the site can be matched to the header set that met it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

CHROME = "149"


@dataclass(frozen=True)
class BrowserProfile:
    name: str = f"chrome-{CHROME}-windows"
    user_agent: str = (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{CHROME}.0.0.0 Safari/537.36"
    )
    sec_ch_ua: str = f'"Chromium";v="{CHROME}", "Google Chrome";v="{CHROME}", "Not/A)Brand";v="99"'
    mobile: str = "?0"
    platform: str = '"Windows"'
    accept_language: str = "en-US,en;q=0.9"
    web_version: str = "0.3.12"  # the front-end build whose requests we imitate (S2)
    extra_headers: Mapping[str, str] = field(default_factory=dict)

    def headers(self, origin: str, referer: str) -> dict[str, str]:
        """The header set of one ``fetch`` from a chat.qwen.ai page at ``referer``; a fresh
        request id and the current time every call."""
        return {
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "Accept-Language": self.accept_language,
            "Connection": "keep-alive",
            "User-Agent": self.user_agent,
            "sec-ch-ua": self.sec_ch_ua,
            "sec-ch-ua-mobile": self.mobile,
            "sec-ch-ua-platform": self.platform,
            "Sec-Fetch-Dest": "empty",
            "Sec-Fetch-Mode": "cors",
            "Sec-Fetch-Site": "same-origin",
            "Origin": origin,
            "Referer": referer,
            "source": "web",
            "version": self.web_version,
            "Timezone": timezone(),
            "X-Request-Id": str(uuid.uuid4()),
            "X-Accel-Buffering": "no",
            **self.extra_headers,
        }


def timezone(now: float | None = None) -> str:
    """What ``new Date().toString()`` prints, without the "(zone name)" tail: ASCII only."""
    return time.strftime("%a %b %d %Y %H:%M:%S GMT%z", time.localtime(now))


def load(path: str, web_version: str = "") -> BrowserProfile:
    """The built-in profile, or the one in ``path`` (JSON; unknown fields are an error so a
    typo does not silently keep a stale value). ``web_version`` overrides the front-end
    version when set (``QWENFREE_WEB_VERSION``)."""
    profile = BrowserProfile()
    if path:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        known = {f.name for f in fields(BrowserProfile)}
        if not isinstance(raw, dict) or set(raw) - known:
            unknown = sorted(set(raw) - known) if isinstance(raw, dict) else "not an object"
            raise ValueError(f"QWENFREE_BROWSER_PROFILE {path}: unknown fields {unknown}")
        extra = raw.get("extra_headers", {})
        if not isinstance(extra, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
        ):
            raise ValueError(f"QWENFREE_BROWSER_PROFILE {path}: extra_headers must map str to str")
        profile = replace(profile, **raw)
        _check(profile, path)
    return replace(profile, web_version=web_version) if web_version else profile


def _check(profile: BrowserProfile, path: str) -> None:
    """A sec-ch-ua that names another Chrome than the User-Agent is itself a bot signal."""
    ua = re.search(r"Chrome/(\d+)", profile.user_agent)
    hints = re.findall(r'v="(\d+)"', profile.sec_ch_ua)
    if ua and hints and ua.group(1) not in hints:
        raise ValueError(
            f"QWENFREE_BROWSER_PROFILE {path}: sec_ch_ua names Chrome {hints} but the "
            f"User-Agent is Chrome {ua.group(1)}"
        )
