"""Callers' file URLs are fetched without letting anyone reach our private network (SSRF).

The gateway here has no allow-list (the production default): every refusal must be a 400 in
the caller's dialect, before anything is sent upstream. The happy path (an allow-listed loopback
origin) is in test_media_in.py; here the allow-list is used only to reach a first hop that then
redirects somewhere private.
"""

from __future__ import annotations

import dataclasses

import openai
import pytest
import requests

from qwenfree import errors
from qwenfree.fetch import Fetcher, is_public
from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support.models import VISION_MODEL
from tests.support.origin import origin_fixture

origin_server, origin = origin_fixture()
MIB = 1024 * 1024


def image_message(url: str) -> list[dict[str, object]]:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return [{"role": "user", "content": parts}]


def nothing_sent(fake) -> bool:
    return not fake.completions() and not any("getstsToken" in r.path for r in fake.requests)


PRIVATE = "non-public address"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/a.png", PRIVATE),
        ("http://127.1.2.3:8080/a.png", PRIVATE),
        ("http://10.0.0.7/a.png", PRIVATE),
        ("http://172.16.5.4/a.png", PRIVATE),
        ("http://192.168.1.1/a.png", PRIVATE),
        ("http://169.254.169.254/latest/meta-data/", PRIVATE),
        ("http://100.100.100.200/latest/meta-data/", PRIVATE),  # Alibaba Cloud's metadata
        ("http://[::1]/a.png", PRIVATE),
        ("http://[::ffff:127.0.0.1]/a.png", PRIVATE),
        ("http://[fd00:ec2::254]/a.png", PRIVATE),
        ("http://0.0.0.0/a.png", PRIVATE),
        ("http://224.0.0.1/a.png", PRIVATE),
        ("http://localhost/a.png", PRIVATE),  # a DNS name that resolves to loopback
        ("ftp://example.org/a.png", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://user:secret@example.org/a.png", "credentials"),
    ],
)
def test_private_and_odd_urls_are_refused_with_a_400(client, fake, url, why):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=VISION_MODEL, messages=image_message(url))
    assert "Cannot use the file URL" in caught.value.message and why in caught.value.message
    assert caught.value.body["type"] == "invalid_request_error"
    assert nothing_sent(fake)


def test_the_address_check_judges_the_address_inside_wrapped_forms():
    for address in ("127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::", "fe80::1", "100.64.0.1"):
        assert not is_public(address), address
    for address in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"):
        assert is_public(address), address


def test_a_redirect_to_a_private_address_is_refused(start_gateway, settings, fake, origin):
    gateway = start_gateway(dataclasses.replace(settings, fetch_allow_hosts="127.0.0.1"))
    for target in (
        origin.url("/a.png", host="localhost"),  # resolves to loopback; not on the list
        "http://169.254.169.254/latest/meta-data/",
    ):
        r = requests.post(
            gateway.url + "/v1/chat/completions",
            json={
                "model": VISION_MODEL,
                "messages": image_message(origin.url(f"/redirect?to={target}")),
            },
            headers={"Authorization": "Bearer " + TOKEN},
        )
        assert r.status_code == 400, r.text
        assert PRIVATE in r.json()["error"]["message"]
    assert [req["path"] for req in origin.requests] == ["/redirect", "/redirect"]
    assert nothing_sent(fake)


def test_more_than_three_redirects_are_refused(origin):
    origin.put("/a.png", fu.PNG, "image/png")
    url = origin.url("/a.png")
    for _ in range(4):
        url = origin.url(f"/redirect?to={requests.utils.quote(url, safe='')}")
    fetcher = Fetcher(MIB, allow_hosts=["127.0.0.1"])
    with pytest.raises(errors.InvalidRequest, match="more than 3 redirects"):
        fetcher.get(url)
    assert fetcher.get(origin.url("/redirect?to=/a.png")).data == fu.PNG  # three are fine


def test_the_connection_goes_to_the_address_that_was_checked(origin):
    """A name is resolved once; we connect to that address and still send the name as Host."""
    origin.put("/a.png", fu.PNG, "image/png")
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"] if not asked[1:] else ["10.9.9.9"]  # a rebinding second answer

    fetcher = Fetcher(MIB, allow_hosts=["pinned.example"], resolver=resolver)
    fetched = fetcher.get(f"http://pinned.example:{origin.port}/a.png")
    assert fetched.data == fu.PNG
    assert asked == ["pinned.example"]
    headers = origin.requests[-1]["headers"]
    assert headers["Host"] == f"pinned.example:{origin.port}"
    assert "Cookie" not in headers and "Authorization" not in headers


def test_a_name_with_one_private_address_among_public_ones_is_refused():
    fetcher = Fetcher(MIB, resolver=lambda host, port: ["8.8.8.8", "127.0.0.1"])
    with pytest.raises(errors.InvalidRequest, match="non-public"):
        fetcher.get("http://mixed.example/a.png")


def test_oversized_files_are_refused_by_length_and_while_streaming(origin):
    fetcher = Fetcher(MIB, allow_hosts=["127.0.0.1"], timeout=5)
    with pytest.raises(errors.InvalidRequest, match="larger than 1 MB"):
        fetcher.get(origin.url(f"/big?bytes={2 * MIB}"))  # Content-Length says so
    with pytest.raises(errors.InvalidRequest, match="larger than 1 MB"):
        fetcher.get(origin.url("/endless"))  # no length: counted as it arrives
    assert fetcher.get(origin.url("/big?bytes=1000")).data.startswith(b"\x89PNG")


def test_a_silent_server_times_out_with_a_400(origin):
    fetcher = Fetcher(MIB, allow_hosts=["127.0.0.1"], timeout=0.3)
    with pytest.raises(errors.InvalidRequest, match="broke off|could not be fetched"):
        fetcher.get(origin.url("/slow?seconds=2"))


def test_an_oversized_inline_image_is_refused_in_each_dialect(start_gateway, settings, fake):
    gateway = start_gateway(dataclasses.replace(settings, max_file_mb=1))
    big = "A" * (2 * MIB)  # base64 of 1.5 MiB
    headers = {"Authorization": "Bearer " + TOKEN}
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"model": VISION_MODEL, "messages": image_message("data:image/png;base64," + big)},
        headers=headers,
    )
    assert r.status_code == 400 and "larger than 1 MB" in r.json()["error"]["message"]
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": big}}
    r = requests.post(
        gateway.url + "/v1/messages",
        json={
            "model": VISION_MODEL,
            "max_tokens": 10,
            "messages": [{"role": "user", "content": [block]}],
        },
        headers=headers | {"anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    part = {"inlineData": {"mimeType": "image/png", "data": big}}
    r = requests.post(
        gateway.url + f"/v1beta/models/{VISION_MODEL}:generateContent",
        json={"contents": [{"parts": [part]}]},
        headers={"x-goog-api-key": TOKEN},
    )
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert nothing_sent(fake)


def test_private_urls_are_refused_in_the_anthropic_and_gemini_dialects(gateway, fake):
    block = {"type": "document", "source": {"type": "url", "url": "http://10.1.1.1/a.pdf"}}
    r = requests.post(
        gateway.url + "/v1/messages",
        json={
            "model": VISION_MODEL,
            "max_tokens": 10,
            "messages": [{"role": "user", "content": [block]}],
        },
        headers={"x-api-key": TOKEN, "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 400 and "non-public" in r.json()["error"]["message"]
    part = {"fileData": {"mimeType": "application/pdf", "fileUri": "http://[::1]:8080/a.pdf"}}
    r = requests.post(
        gateway.url + f"/v1beta/models/{VISION_MODEL}:generateContent",
        json={"contents": [{"parts": [{"text": "read"}, part]}]},
        headers={"x-goog-api-key": TOKEN},
    )
    assert r.status_code == 400 and "non-public" in r.json()["error"]["message"]
    assert nothing_sent(fake)


def _certificates(tmp_path, name: str):
    """A throwaway CA and a server certificate for ``name`` (files: ca.pem, server.pem)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def made(subject: str, key, issuer: str, issuer_key, ca: bool, san: str | None):
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = made("test CA", ca_key, "test CA", ca_key, True, None)
    cert = made(name, key, "test CA", ca_key, False, name)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "server.pem").write_bytes(
        cert.public_bytes(pem)
        + key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "ca.pem", tmp_path / "server.pem"


def test_https_goes_to_the_checked_address_with_the_name_for_sni_and_the_certificate(tmp_path):
    import http.server
    import ssl
    import threading

    ca, server_pem = _certificates(tmp_path, "pinned.example")
    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", str(len(fu.PNG)))
            self.end_headers()
            self.wfile.write(fu.PNG)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_pem)
    context.sni_callback = lambda sock, name, ctx: seen.append(name)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_port
    try:

        def loopback(host: str, port: int) -> list[str]:
            return ["127.0.0.1"]

        allowed = ["pinned.example", "other.example"]
        fetcher = Fetcher(MIB, allow_hosts=allowed, resolver=loopback, ca_certs=str(ca))
        assert fetcher.get(f"https://pinned.example:{port}/a.png").data == fu.PNG
        assert seen == ["pinned.example", f"pinned.example:{port}"]  # SNI, then Host
        with pytest.raises(errors.InvalidRequest, match="could not be fetched"):
            fetcher.get(f"https://other.example:{port}/a.png")  # the certificate names another
    finally:
        server.shutdown()
        server.server_close()
