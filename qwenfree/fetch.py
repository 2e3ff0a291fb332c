"""Fetching the URLs callers give us (images, documents) without becoming an SSRF proxy.

Rules (design.md §9, after the OWASP SSRF cheat sheet):

* only ``http`` and ``https``; no credentials in the URL;
* the host is resolved once and every address it resolves to must be public: private, loopback,
  link-local (where cloud metadata services such as 169.254.169.254 live), shared/CGN
  (Alibaba's 100.100.100.200), multicast, reserved and unspecified addresses are refused, and an
  IPv4-mapped or 6to4 IPv6 address is judged by the IPv4 address inside it;
* the connection goes to the address that was checked, with the original ``Host`` header and,
  for https, the original name for SNI and the certificate check, so a second DNS answer cannot
  point elsewhere (DNS rebinding);
* redirects are followed by hand, each hop checked again, at most ``MAX_REDIRECTS``;
* the body is read with a byte cap (``Content-Length`` is checked first, then every chunk) and
  an overall deadline; no cookies or credentials are sent.

Hosts listed in ``allow_hosts`` (exactly as written in the URL) skip the address check: for
tests and trusted intranets. Every refusal is an ``InvalidRequest`` (400) saying why.

urllib3 (which requests is built on) is used directly rather than the upstream
``requests.Session``: a pinned connection needs a pool per checked address, and the upstream
session must never carry a caller's URL; its exceptions are mapped here, to 400s.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH  # certifi's bundle, as requests uses it

from qwenfree import errors

MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = "qwenfree (fetching a file a user sent)"
Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True, slots=True)
class Fetched:
    data: bytes
    content_type: str  # as the server declared it: a hint, the bytes decide
    url: str  # after redirects


@dataclass(frozen=True, slots=True)
class Target:
    """One hop: where to connect (``address``) and what to ask for."""

    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: str) -> bool:
    """Is this an address on the public internet (and nothing else)?"""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if inner is not None:
            return is_public(str(inner))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def refused(message: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(f"Cannot use the file URL: {message}")


class Fetcher:
    """GETs a caller's URL under the rules above; ``get`` returns the body or raises."""

    def __init__(
        self,
        max_bytes: int,
        allow_hosts: Iterable[str] = (),
        timeout: float = 10.0,
        resolver: Resolver = resolve,
        clock: Callable[[], float] = time.monotonic,
        ca_certs: str = DEFAULT_CA_BUNDLE_PATH,
    ) -> None:
        self.max_bytes = max_bytes
        self.ca_certs = ca_certs
        self.allow_hosts = frozenset(h.strip().lower() for h in allow_hosts if h.strip())
        self.timeout = timeout
        self._resolve = resolver
        self._clock = clock

    def get(self, url: str) -> Fetched:
        """Fetch ``url``, following at most ``MAX_REDIRECTS`` checked redirects."""
        deadline = self._clock() + 3 * self.timeout
        for _ in range(MAX_REDIRECTS + 1):
            target = self.target(url)
            pool, response = self._open(target)
            try:
                if response.status in REDIRECTS:
                    location = response.headers.get("Location")
                    if not location:
                        raise refused(f"{target.host} redirected without a Location")
                    url = urljoin(url, location)
                    continue
                if response.status >= 400:
                    raise refused(f"{target.host} answered HTTP {response.status}")
                data = self._read(response, target, deadline)
                return Fetched(data, response.headers.get("Content-Type", ""), url)
            finally:
                response.release_conn()
                pool.close()
        raise refused(f"more than {MAX_REDIRECTS} redirects")

    def target(self, url: str) -> Target:
        """Check a URL and resolve its host; raise ``InvalidRequest`` when it may not be used."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise refused("it is not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise refused(f"only http and https URLs can be fetched, not {scheme or 'this'!r}")
        if not parts.hostname:
            raise refused("it has no host")
        if parts.username or parts.password:
            raise refused("URLs with credentials are not fetched")
        port = port or DEFAULT_PORTS[scheme]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Target(scheme, parts.hostname, port, self._address(parts.hostname, port), path)

    def _address(self, host: str, port: int) -> str:
        """The one address we will connect to, after checking every address of the host."""
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = self._resolve(host, port)
            except (OSError, UnicodeError):  # UnicodeError: a name IDNA cannot encode
                raise refused(f"the host {host} cannot be resolved") from None
        if not addresses:
            raise refused(f"the host {host} cannot be resolved")
        if host.lower() not in self.allow_hosts and not all(map(is_public, addresses)):
            raise refused(
                f"{host} is a private, loopback, link-local or otherwise non-public address"
            )
        return addresses[0]

    def _open(self, target: Target) -> tuple[urllib3.HTTPConnectionPool, urllib3.BaseHTTPResponse]:
        timeout = urllib3.Timeout(connect=min(3.0, self.timeout), read=self.timeout)
        pool: urllib3.HTTPConnectionPool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                target.address,
                target.port,
                timeout=timeout,
                maxsize=1,
                server_hostname=target.host,
                assert_hostname=target.host,
                cert_reqs="CERT_REQUIRED",
                ca_certs=self.ca_certs,
            )
        else:
            pool = urllib3.HTTPConnectionPool(
                target.address, target.port, timeout=timeout, maxsize=1
            )
        headers = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept": "*/*"}
        try:
            response = pool.urlopen(
                "GET",
                target.path,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            pool.close()
            raise refused(f"{target.host} could not be fetched ({type(exc).__name__})") from None
        return pool, response

    def _read(self, response: urllib3.BaseHTTPResponse, target: Target, deadline: float) -> bytes:
        """The body, refused as soon as it is known to exceed the cap or the deadline."""
        too_large = refused(
            f"the file at {target.host} is larger than {self.max_bytes // (1024 * 1024)} MB"
        )
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise too_large
        body = bytearray()
        try:
            for chunk in response.stream(CHUNK, decode_content=True):
                body += chunk
                if len(body) > self.max_bytes:
                    raise too_large
                if self._clock() > deadline:
                    raise refused(f"{target.host} took too long to send the file")
        except urllib3.exceptions.HTTPError as exc:
            raise refused(f"{target.host} broke off the download ({type(exc).__name__})") from None
        return bytes(body)
