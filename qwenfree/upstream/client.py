"""The HTTP transport to chat.qwen.ai: one requests.Session per worker, streamed calls, and the
only place where requests/urllib3 exceptions and upstream statuses become our errors."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from qwenfree import errors
from qwenfree.events import Event
from qwenfree.settings import Settings
from qwenfree.sse import SSEDecoder
from qwenfree.upstream import qwen

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Safari/537.36"
)
MAX_ERROR_BODY = 1 << 20  # an error page larger than this is not worth reading


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """Translate transport exceptions, including those raised while a body is iterated."""
    try:
        yield
    except (requests.ConnectTimeout, requests.ReadTimeout, urllib3.exceptions.TimeoutError) as exc:
        raise errors.UpstreamTimeout("chat.qwen.ai did not answer in time") from exc
    except requests.ConnectionError as exc:
        if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
            raise errors.UpstreamTimeout("chat.qwen.ai went silent mid-answer") from exc
        raise errors.UpstreamUnavailable("cannot reach chat.qwen.ai") from exc
    except (
        requests.RequestException,
        urllib3.exceptions.HTTPError,
        OSError,
    ) as exc:
        raise errors.UpstreamUnavailable("the connection to chat.qwen.ai broke") from exc


def status_error(status: int, body: str, retry_after: str | None) -> errors.QwenfreeError:
    """Map a non-2xx upstream status (and its body) to an error."""
    if body.lstrip().startswith("<") and any(m in body for m in qwen.CHALLENGE_MARKERS):
        return qwen.page_error(body)
    if status in (401, 403):
        return errors.UpstreamTokenRejected("chat.qwen.ai refused the token (expired or invalid)")
    if status == 429:
        seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
        return errors.UpstreamRateLimited("chat.qwen.ai is rate limiting", retry_after=seconds)
    if status >= 500:
        return errors.UpstreamUnavailable(f"chat.qwen.ai answered HTTP {status}")
    return errors.UpstreamRejected(f"chat.qwen.ai answered HTTP {status}")


class UpstreamClient:
    """Owns the Session; sends per-request credentials; never mutates shared state."""

    def __init__(self, settings: Settings) -> None:
        self.base = settings.upstream_url
        self.timeout = (settings.connect_timeout, settings.read_timeout)
        session = requests.Session()
        adapter = HTTPAdapter(
            pool_connections=4, pool_maxsize=settings.upstream_pool_size, max_retries=0
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # One account's cookies must never ride on another account's request.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        session.headers.update(
            {
                "User-Agent": USER_AGENT,
                "Accept": "application/json, text/plain, */*",
                "Accept-Language": "en-US,en;q=0.9",
                "Origin": self.base,
                "Referer": self.base + "/",
                "source": "web",
                "version": settings.web_version,
                "bx-v": "2.5.36",
            }
        )
        self.session = session

    def close(self) -> None:
        self.session.close()

    def json(self, method: str, path: str, token: str | None, body: Any = None) -> Any:
        """Send a small JSON call; return the parsed body or raise the error it stands for."""
        with mapped_errors():
            r = self.session.request(
                method,
                self.base + path,
                headers=self._headers(token),
                json=body,
                timeout=self.timeout,
            )
            try:
                text = r.text[:MAX_ERROR_BODY]
            finally:
                r.close()
        if r.status_code >= 400:
            raise status_error(r.status_code, text, r.headers.get("Retry-After"))
        try:
            parsed = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            raise qwen.page_error(text) from None
        if isinstance(parsed, dict) and (err := qwen.business_error(parsed)) is not None:
            raise err
        return parsed

    def stream(self, path: str, token: str, body: Any) -> UpstreamStream:
        """Open a streamed completion call; raise if its status already says it failed."""
        headers = self._headers(token)
        headers["Accept"] = "text/event-stream"
        with mapped_errors():
            r = self.session.post(
                self.base + path, headers=headers, json=body, timeout=self.timeout, stream=True
            )
            if r.status_code >= 400:
                try:
                    text = r.raw.read(MAX_ERROR_BODY, decode_content=True).decode(
                        "utf-8", "replace"
                    )
                finally:
                    r.close()
                raise status_error(r.status_code, text, r.headers.get("Retry-After"))
        return UpstreamStream(r)

    def _headers(self, token: str | None) -> dict[str, str]:
        headers = {
            "x-request-id": str(uuid.uuid4()),
            "timezone": time.strftime("%a %b %d %Y %H:%M:%S GMT%z", time.localtime()),
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
            headers["Cookie"] = f"token={token}"
        return headers


class UpstreamStream:
    """Iterates the neutral events of one completion; ``close()`` releases the connection.

    Bodies that are not SSE (a JSON business error or an HTML page sent with status 200) are
    recognised from their first byte and raised as errors.
    """

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self.parser = qwen.FrameParser()

    def __iter__(self) -> Iterator[Event]:
        decoder = SSEDecoder()
        with mapped_errors():
            chunks = self._chunks()
            for chunk in chunks:
                if chunk.strip():
                    break
            else:
                return
            if chunk.lstrip()[:1] in (b"{", b"<"):
                raise self._body_error(chunk, chunks)
            while True:
                for message in decoder.feed(chunk):
                    yield from self.parser.parse(message.data)
                chunk = next(chunks, b"")
                if not chunk:
                    break
            for message in decoder.finish():
                yield from self.parser.parse(message.data)

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
        if text.lstrip().startswith("<"):
            return qwen.page_error(text)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return qwen.page_error(text)
        err = qwen.business_error(parsed) if isinstance(parsed, dict) else None
        return err or errors.UpstreamProtocolError("chat.qwen.ai sent JSON instead of a stream")
