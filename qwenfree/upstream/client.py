"""The HTTP transport to an upstream site (chat.qwen.ai by default, or Tongyi): one
requests.Session per site and worker, streamed calls, and the only place where HTTP happens
(``failures.py`` classifies what failed; ``observers`` hear of every call, for ``make doctor``
and /metrics; ``wire`` names where a call's wire time goes, see ``calls.py``)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

from qwenfree import errors
from qwenfree.settings import Settings
from qwenfree.upstream import browser, qwen
from qwenfree.upstream.calls import CallRecord, Observer, Wire, WireHook
from qwenfree.upstream.cookies import CookieJars
from qwenfree.upstream.failures import business_code, business_details, mapped_errors, status_error
from qwenfree.upstream.site import Site
from qwenfree.upstream.stream import MAX_ERROR_BODY, UpstreamStream

log = logging.getLogger(__name__)


class UpstreamClient:
    """Owns the Session and the per-identity cookie jars; sends per-request credentials."""

    def __init__(
        self,
        settings: Settings,
        site: Site | None = None,
        observers: Sequence[Observer] = (),
        wire: WireHook | None = None,
    ) -> None:
        self.site = site = site or qwen.site(settings)
        self.observers = list(observers)  # each hears of every call once (doctor, metrics)
        self.wire = wire
        self.base = site.base
        self.timeout = (settings.connect_timeout, settings.read_timeout)
        session = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=4, pool_maxsize=settings.upstream_pool_size, max_retries=0
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # One account's cookies must never ride on another account's request: the session's
        # shared jar stays off, and ``cookies`` keeps one jar per identity.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        session.headers.clear()  # requests' defaults (python-requests UA, */*) are bot tells
        session.headers.update(site.headers)
        # No proxy (or ~/.netrc) lookup in the environment on every call: one explicit proxy.
        session.trust_env = False
        proxy = settings.upstream_proxy
        session.proxies = {"http": proxy, "https": proxy} if proxy else {}
        self.session = session
        self.cookies = CookieJars()

    def close(self) -> None:
        self.session.close()

    def json(
        self,
        method: str,
        path: str,
        token: str | None,
        body: Any = None,
        *,
        chat_id: str | None = None,
        base: str | None = None,
        cookies: str = "",
    ) -> Any:
        """Send a small JSON call; return the parsed body or raise the error it stands for.
        ``chat_id`` names the chat the call is about (the page it comes from); ``base`` sends
        it to another host of the same site (auth.qwen.ai); ``cookies`` go besides the jar's."""
        return self.call(method, path, token, body, chat_id=chat_id, base=base, cookies=cookies)[0]

    def call(
        self,
        method: str,
        path: str,
        token: str | None,
        body: Any = None,
        *,
        chat_id: str | None = None,
        base: str | None = None,
        cookies: str = "",
    ) -> tuple[Any, list[str]]:
        """``json`` that also returns the answer's ``Set-Cookie`` lines (sign-in and refresh
        hand out tokens there)."""
        started, r, text = time.perf_counter(), None, ""
        charge = self.wire() if self.wire is not None else None
        # A call to another host (the auth host's refresh) names that host when it fails.
        name = self.site.name if base is None else urlsplit(base).hostname or "the auth host"
        try:
            with mapped_errors(name):
                r = self._send(
                    method, path, token, body, chat_id, charge, base=base, cookies=cookies
                )
                try:
                    text = r.text[:MAX_ERROR_BODY]
                finally:
                    r.close()
            status = self.status(r)
            if status >= 400:
                raise self._failed(method, path, r, status, text)
            try:
                parsed = json.loads(text) if text.strip() else {}
            except json.JSONDecodeError:
                raise self._failed(
                    method, path, r, status, text, self.site.page_error(text)
                ) from None
            if isinstance(parsed, dict) and (err := self.site.business_error(parsed)) is not None:
                raise self._failed(method, path, r, status, text, err)
        except errors.QwenfreeError as err:
            self._observe(method, path, started, r, text, err)
            raise
        self._observe(method, path, started, r, "", None)
        return parsed, response_cookies(r)

    def stream(
        self, path: str, token: str, body: Any, *, chat_id: str | None = None
    ) -> UpstreamStream:
        """Open a streamed completion call; raise if its status already says it failed."""
        started, r, text = time.perf_counter(), None, ""
        charge = self.wire() if self.wire is not None else None
        try:
            with mapped_errors(self.site.name):
                r = self._send("POST", path, token, body, chat_id, charge, stream=True)
                status = self.status(r)
                if status >= 400:
                    try:
                        text = r.raw.read(MAX_ERROR_BODY, decode_content=True).decode(
                            "utf-8", "replace"
                        )
                    finally:
                        r.close()
                    raise self._failed("POST", path, r, status, text)
        except errors.QwenfreeError as err:
            self._observe("POST", path, started, r, text, err, stream=True)
            raise
        opened, open_seconds = r, time.perf_counter() - started

        def ended(err: errors.QwenfreeError | None, text: str, unparsed: tuple[str, ...]) -> None:
            self._observe(
                "POST",
                path,
                started,
                opened,
                text,
                err,
                stream=True,
                unparsed=unparsed,
                timings=(open_seconds, upstream.first_event_seconds),
            )

        upstream = UpstreamStream(
            r,
            self.site,
            lambda err: self._logged("POST", path, opened, err),
            ended if self.observers else None,
            wire=charge,
        )
        return upstream

    def status(self, r: requests.Response) -> int:
        """The real status: the site's header when it sets one (HTTP 200 on the wire)."""
        name = self.site.status_header
        actual = r.headers.get(name, "") if name else ""
        return int(actual) if actual.strip().isdigit() else r.status_code

    def _send(
        self,
        method: str,
        path: str,
        token: str | None,
        body: Any,
        chat_id: str | None,
        charge: Wire | None,
        *,
        stream: bool = False,
        base: str | None = None,
        cookies: str = "",
    ) -> requests.Response:
        site = self.site
        if site.request_headers is not None:
            headers = site.request_headers(path, chat_id)
        else:
            headers = {"x-request-id": str(uuid.uuid4()), "timezone": browser.timezone()}
        if body is not None:
            headers["Content-Type"] = "application/json"
        identity = site.identity(token) if token and site.identity else None
        jar = self.cookies.header(identity) if identity else ""
        if token:
            headers.update(site.credentials(token))
        sent = "; ".join(c for c in (headers.get("Cookie", ""), cookies, jar) if c)
        if sent:
            headers["Cookie"] = sent
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        r = self._request(method, (base or self.base) + path, headers, data, stream, charge)
        # Only answers that accepted the credential may set its cookies: the identity comes from
        # an unverified JWT claim, and a forged token's refusal must not rewrite another's jar.
        if identity and self.status(r) < 400:
            self.cookies.keep(identity, response_cookies(r))
        return r

    def _request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        stream: bool,
        charge: Wire | None = None,
    ) -> requests.Response:
        """``session.request`` minus its per-call merging (~0.3 ms, with Protocol isinstance
        checks): URLs are built encoded (``paths.part``), bodies are bytes, settings fixed.
        ``charge`` is told the wire time (see ``on_wire``)."""
        session = self.session
        prepared = requests.PreparedRequest()
        prepared.method = method
        prepared.url = url
        merged = CaseInsensitiveDict(session.headers)
        merged.update(headers)
        if data is not None:
            merged["Content-Length"] = str(len(data))
        elif method not in ("GET", "HEAD"):
            merged["Content-Length"] = "0"
        prepared.headers = merged
        prepared.body = data
        prepared._cookies = RequestsCookieJar()  # read when a redirect is followed
        return on_wire(
            charge,
            lambda: session.send(
                prepared,
                timeout=self.timeout,
                stream=stream,
                proxies=session.proxies,
                verify=session.verify,
                cert=session.cert,
                allow_redirects=True,
            ),
        )

    def _failed(
        self,
        method: str,
        path: str,
        r: requests.Response,
        status: int,
        text: str,
        err: errors.QwenfreeError | None = None,
    ) -> errors.QwenfreeError:
        if err is None:
            err = status_error(status, text, r.headers.get("Retry-After"), self.site)
        return self._logged(method, path, r, err, text)

    def _logged(
        self,
        method: str,
        path: str,
        r: requests.Response,
        err: errors.QwenfreeError,
        text: str = "",
    ) -> errors.QwenfreeError:
        """One line per upstream failure: enough to tell a drift of the site from the log."""
        code = business_code(text)
        log.warning(
            "upstream failure: %s %s http=%s actual=%s code=%s profile=%s -> %s: %s",
            method,
            path.split("?", 1)[0],
            r.status_code,
            (r.headers.get(self.site.status_header, "-") if self.site.status_header else "-"),
            code or "-",
            self.site.profile,
            err.kind,
            err.message[:200],
        )
        return err

    def _observe(
        self,
        method: str,
        path: str,
        started: float,
        r: requests.Response | None,
        text: str,
        err: errors.QwenfreeError | None,
        *,
        stream: bool = False,
        unparsed: tuple[str, ...] = (),
        timings: tuple[float | None, float | None] | None = None,
    ) -> None:
        if not self.observers:
            return
        seconds = time.perf_counter() - started
        header = self.site.status_header
        bare = path.split("?", 1)[0]
        open_seconds, first_event = timings or ((seconds, None) if stream else (None, None))
        record = CallRecord(
            method=method,
            path=bare,
            http_status=r.status_code if r is not None else None,
            actual_status=r.headers.get(header) if r is not None and header else None,
            code=(business_code(text) or None) if err is not None else None,
            details=(business_details(text) or None) if err is not None else None,
            seconds=seconds,
            error=err.kind if err is not None else None,
            message=err.message if err is not None else None,
            stream=stream,
            unparsed=unparsed,
            endpoint=self.site.endpoint(method, bare),
            open_seconds=open_seconds,
            first_event_seconds=first_event,
        )
        for observer in self.observers:
            observer(record)

    def put(self, url: str, data: bytes, headers: dict[str, str]) -> None:
        """Upload bytes to the object storage URL an STS answer named (signed by the caller);
        raise if storage refused them. No account credentials are sent there."""
        charge = self.wire() if self.wire is not None else None
        with mapped_errors(self.site.name):
            r = on_wire(
                charge,
                lambda: self.session.put(url, data=data, headers=headers, timeout=self.timeout),
            )
            try:
                text = r.text[:4096]
            finally:
                r.close()
        if r.status_code >= 300:
            code = re.search(r"<Code>([^<]{1,80})</Code>", text)
            raise errors.UpstreamUnavailable(
                f"chat.qwen.ai's file storage refused the upload: HTTP {r.status_code}"
                + (f" {code.group(1)}" if code else "")
            )

    def download(self, url: str, max_bytes: int) -> bytes:
        """Fetch a file the upstream generated (its CDN URL, query kept); at most ``max_bytes``."""
        charge = self.wire() if self.wire is not None else None
        with mapped_errors(self.site.name):
            r = on_wire(charge, lambda: self.session.get(url, timeout=self.timeout, stream=True))
            try:
                if r.status_code >= 400:
                    raise errors.UpstreamUnavailable(
                        f"chat.qwen.ai's CDN answered HTTP {r.status_code} for a generated file"
                    )
                body = bytearray()
                for chunk in r.iter_content(65536):
                    body += chunk
                    if len(body) > max_bytes:
                        raise errors.UpstreamProtocolError("a generated file is unexpectedly large")
                return bytes(body)
            finally:
                r.close()


def response_cookies(r: requests.Response) -> list[str]:
    """The raw ``Set-Cookie`` lines of a response (requests folds them into one string)."""
    getlist = getattr(getattr(r.raw, "headers", None), "getlist", None)
    return list(getlist("Set-Cookie")) if getlist is not None else []


def on_wire(charge: Wire | None, send: Callable[[], requests.Response]) -> requests.Response:
    """Run ``send`` and tell ``charge`` its wire time: what requests measured around each
    adapter send (``elapsed``: sending, then waiting for the status line and headers; one per
    redirect). Header and cookie handling stay out, so the overhead header is what a client
    measuring us would see added. A send that failed is charged whole."""
    if charge is None:
        return send()
    started = time.perf_counter()
    try:
        r = send()
    except BaseException:
        charge(time.perf_counter() - started)
        raise
    charge(sum((h.elapsed for h in r.history), r.elapsed).total_seconds())
    return r
