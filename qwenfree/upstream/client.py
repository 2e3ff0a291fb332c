"""The HTTP transport to an upstream site (chat.qwen.ai by default, or Tongyi): one
requests.Session per site and worker, streamed calls, and the only place where requests/urllib3
exceptions and upstream statuses become our errors."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict

from qwenfree import errors
from qwenfree.events import Event
from qwenfree.settings import Settings
from qwenfree.sse import SSEDecoder
from qwenfree.upstream import browser, qwen
from qwenfree.upstream.cookies import CookieJars
from qwenfree.upstream.site import Site

log = logging.getLogger(__name__)
MAX_ERROR_BODY = 1 << 20  # an error page larger than this is not worth reading


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
        if isinstance(parsed, dict) and (err := business_error(parsed)) is not None:
            return err
    if status in (401, 403):
        return errors.UpstreamTokenRejected(f"{name} refused the token (expired or invalid)")
    if status == 429:
        seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
        return errors.UpstreamRateLimited(f"{name} is rate limiting", retry_after=seconds)
    if status >= 500:
        return errors.UpstreamUnavailable(f"{name} answered HTTP {status}")
    return errors.UpstreamRejected(f"{name} answered HTTP {status}")


class UpstreamClient:
    """Owns the Session and the per-identity cookie jars; sends per-request credentials."""

    adapter_class = HTTPAdapter  # metrics.WireAdapter times the wire

    def __init__(self, settings: Settings, site: Site | None = None) -> None:
        self.site = site = site or qwen.site(settings)
        self.base = site.base
        self.timeout = (settings.connect_timeout, settings.read_timeout)
        session = requests.Session()
        adapter = self.adapter_class(
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
        with mapped_errors(self.site.name):
            r = self._send(method, path, token, body, chat_id, base=base, cookies=cookies)
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
            raise self._failed(method, path, r, status, text, self.site.page_error(text)) from None
        if isinstance(parsed, dict) and (err := self.site.business_error(parsed)) is not None:
            raise self._failed(method, path, r, status, text, err)
        return parsed, response_cookies(r)

    def stream(
        self, path: str, token: str, body: Any, *, chat_id: str | None = None
    ) -> UpstreamStream:
        """Open a streamed completion call; raise if its status already says it failed."""
        with mapped_errors(self.site.name):
            r = self._send("POST", path, token, body, chat_id, stream=True)
            status = self.status(r)
            if status >= 400:
                try:
                    text = r.raw.read(MAX_ERROR_BODY, decode_content=True).decode(
                        "utf-8", "replace"
                    )
                finally:
                    r.close()
                raise self._failed("POST", path, r, status, text)
        return UpstreamStream(r, self.site, lambda err: self._logged("POST", path, r, err))

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
        r = self._request(method, (base or self.base) + path, headers, data, stream)
        if identity:
            self.cookies.keep(identity, response_cookies(r))
        return r

    def _request(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None, stream: bool
    ) -> requests.Response:
        """``session.request`` minus its per-call merging (~0.3 ms, with Protocol isinstance
        checks): URLs are built encoded (``paths.part``), bodies are bytes, settings fixed."""
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
        return session.send(
            prepared,
            timeout=self.timeout,
            stream=stream,
            proxies=session.proxies,
            verify=session.verify,
            cert=session.cert,
            allow_redirects=True,
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
        code = _business_code(text)
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

    def put(self, url: str, data: bytes, headers: dict[str, str]) -> None:
        """Upload bytes to the object storage URL an STS answer named (signed by the caller);
        raise if storage refused them. No account credentials are sent there."""
        with mapped_errors(self.site.name):
            r = self.session.put(url, data=data, headers=headers, timeout=self.timeout)
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
        with mapped_errors(self.site.name):
            r = self.session.get(url, timeout=self.timeout, stream=True)
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


def _business_code(text: str) -> str:
    """The site's own error code in a failure body, for the log line (never its details)."""
    found = re.search(r'"(?:code|errorCode)"\s*:\s*"([A-Za-z0-9_.:-]{1,60})"', text[:4096])
    if found:
        return found.group(1)
    return "challenge" if any(m in text for m in qwen.CHALLENGE_MARKERS) else ""


class UpstreamStream:
    """Iterates the neutral events of one completion; ``close()`` releases the connection.

    Bodies that are not SSE (a JSON business error or an HTML page sent with status 200) are
    recognised from their first byte and raised as errors.
    """

    def __init__(
        self,
        response: requests.Response,
        site: Site | None = None,
        on_error: Callable[[errors.QwenfreeError], errors.QwenfreeError] | None = None,
    ) -> None:
        self._response = response
        self._site = site
        self._on_error = on_error or (lambda err: err)
        self.parser: Any = site.parser() if site else qwen.FrameParser()

    def __iter__(self) -> Iterator[Event]:
        decoder = SSEDecoder()
        with mapped_errors(self._site.name if self._site else qwen.NAME):
            chunks = self._chunks()
            for chunk in chunks:
                if chunk.strip():
                    break
            else:
                return
            if chunk.lstrip()[:1] in (b"{", b"<"):
                raise self._on_error(self._body_error(chunk, chunks))
            while True:
                for message in decoder.feed(chunk):
                    yield from self.parser.parse(message.data)
                chunk = next(chunks, b"")
                if not chunk:
                    break
            for message in decoder.finish():
                yield from self.parser.parse(message.data)
        if self.parser.answered and not getattr(self.parser, "finished", True):
            # A body that stops cleanly between frames, before the answer's end mark, is a
            # cut answer: passing it on would be a short "success".
            raise errors.UpstreamUnavailable("the upstream stream ended before the answer did")

    def close(self) -> None:
        self._response.close()

    def _chunks(self) -> Iterator[bytes]:
        raw = self._response.raw
        if raw.chunked:
            yield from raw.read_chunked(None, decode_content=True)
            return
        # A close-delimited body: read() would wait for EOF, read1() returns what has arrived.
        while data := raw.read1(65536, decode_content=True):
            yield data

    def _body_error(self, first: bytes, rest: Iterator[bytes]) -> errors.QwenfreeError:
        body = bytearray(first)
        for chunk in rest:
            body.extend(chunk)
            if len(body) > MAX_ERROR_BODY:
                break
        text = body.decode("utf-8", "replace")
        page_error = self._site.page_error if self._site else qwen.page_error
        business_error = self._site.business_error if self._site else qwen.business_error
        if text.lstrip().startswith("<"):
            return page_error(text)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return page_error(text)
        err = business_error(parsed) if isinstance(parsed, dict) else None
        name = self._site.name if self._site else qwen.NAME
        return err or errors.UpstreamProtocolError(f"{name} sent JSON instead of a stream")
