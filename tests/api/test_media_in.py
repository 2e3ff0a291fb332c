"""Images, documents and audio sent in any dialect are uploaded to chat.qwen.ai's file storage and
attached to the message (the fake checks the STS token and the OSS signature of every upload,
and that a message references only files its account uploaded, documents parsed)."""

from __future__ import annotations

import base64
import dataclasses

import openai
import pytest
import requests

from qwenfree.attachments import Blob
from qwenfree.upstream.files import Sts, put_headers, sign_v1
from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support.fake_site import browser
from tests.support.models import VISION_MODEL
from tests.support.origin import origin_fixture

origin_server, origin = origin_fixture()
PNG64 = base64.b64encode(fu.PNG).decode()
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PDF64 = base64.b64encode(PDF).decode()
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 40


@pytest.fixture
def gateway(start_gateway, settings):
    """Loopback origins are allowed here (the SSRF tests run without the allow-list)."""
    return start_gateway(
        dataclasses.replace(settings, fetch_allow_hosts="127.0.0.1", poll_interval=0.01)
    )


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0, timeout=15)


def sent(fake) -> dict:
    return fake.last_completion().json["messages"][0]


def stored(fake, entry: dict) -> fu.StoredFile:
    return fake.files[entry["id"]]


def uploads(fake) -> list[fu.StoredFile]:
    return [f for f in fake.files.values() if f.data is not None]


def sts_calls(fake) -> int:
    return sum("getstsToken" in r.path for r in fake.requests)


def anthropic(gateway, blocks: list[dict], model: str = VISION_MODEL) -> requests.Response:
    return requests.post(
        gateway.url + "/v1/messages",
        json={"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": blocks}]},
        headers={"x-api-key": TOKEN, "anthropic-version": "2023-06-01"},
    )


def gemini(gateway, parts: list[dict], model: str = VISION_MODEL) -> requests.Response:
    return requests.post(
        gateway.url + f"/v1beta/models/{model}:generateContent",
        json={"contents": [{"role": "user", "parts": parts}]},
        headers={"x-goog-api-key": TOKEN},
    )


# ------------------------------------------------------------------------------ OpenAI


def test_an_image_chat_with_the_openai_sdk_uploads_and_attaches_the_picture(client, fake):
    done = client.chat.completions.create(
        model=VISION_MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}},
                ],
            }
        ],
    )
    assert done.choices[0].message.content == fu.DEFAULT_TEXT
    msg = sent(fake)
    [entry] = msg["files"]
    assert (entry["type"], entry["file_class"], entry["file_type"]) == (
        "image",
        "vision",
        "image/png",
    )
    assert stored(fake, entry).data == fu.PNG and stored(fake, entry).content_type == "image/png"
    assert msg["content"] == "What is in this picture?\n[attached image 1]"
    put = next(r for r in fake.requests if r.method == "PUT")
    assert put.headers["authorization"].startswith(
        "OSS STS.fake"
    ) and "token" not in put.headers.get("cookie", "")


def test_an_image_url_is_fetched_and_uploaded(client, fake, origin):
    url = origin.put("/cat.jpg", JPEG, "image/jpeg")
    client.chat.completions.create(
        model=VISION_MODEL,
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
    )
    [entry] = sent(fake)["files"]
    assert stored(fake, entry).data == JPEG and entry["file_type"] == "image/jpeg"
    assert stored(fake, entry).name.endswith(".jpg")


def test_file_parts_are_uploaded_parsed_and_attached_as_documents(client, fake, origin):
    report = PDF.replace(b"<<>> endobj", b"<< /Title (v2) >> endobj")
    url = origin.put("/docs/report%20v2.pdf", report, "application/octet-stream")
    fake.parse_pending = 2
    client.chat.completions.create(
        model=VISION_MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare these."},
                    {
                        "type": "file",
                        "file": {
                            "file_data": f"data:application/pdf;base64,{PDF64}",
                            "filename": "a.pdf",
                        },
                    },
                    {"type": "file", "file_url": {"url": url}},  # the original project's shape
                ],
            }
        ],
    )
    msg = sent(fake)
    first, second = msg["files"]
    assert (first["type"], first["file_class"], first["name"]) == ("file", "document", "a.pdf")
    assert second["name"] == "report_v2.pdf" and stored(fake, second).data == report
    assert all(stored(fake, e).parse == "success" for e in msg["files"])
    assert msg["content"].endswith("[attached file 1: a.pdf]\n[attached file 2: report_v2.pdf]")
    statuses = [r for r in fake.requests if r.path.endswith("/parse/status")]
    assert len(statuses) >= 3  # it waited through "pending"


def test_input_audio_is_attached_as_audio(client, fake):
    audio = {"data": base64.b64encode(WAV).decode(), "format": "wav"}
    client.chat.completions.create(
        model=VISION_MODEL,
        messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": audio}]}],
    )
    [entry] = sent(fake)["files"]
    assert (entry["type"], entry["file_class"], entry["file_type"]) == (
        "audio",
        "audio",
        "audio/wav",
    )


def test_pictures_in_earlier_messages_are_attached_where_they_were_sent(client, fake):
    picture = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}}
    client.chat.completions.create(
        model=VISION_MODEL,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Look:"}, picture]},
            {"role": "assistant", "content": "A dot."},
            {"role": "user", "content": [{"type": "text", "text": "And this one again?"}, picture]},
        ],
    )
    msg = sent(fake)
    assert len(msg["files"]) == 1  # the same picture twice is one attachment
    assert msg["content"].count("[attached image 1]") == 2
    assert msg["content"].index("Look:") < msg["content"].index("[attached image 1]")


def test_an_account_uploads_the_same_picture_once(start_gateway, settings, fake):
    gateway = start_gateway(settings)
    picture = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}}
    body = {"model": VISION_MODEL, "messages": [{"role": "user", "content": [picture]}]}

    def ask(token: str) -> None:
        r = requests.post(
            gateway.url + "/v1/chat/completions",
            json=body,
            headers={"Authorization": "Bearer " + token},
        )
        assert r.status_code == 200, r.text

    ask(TOKEN)
    first = sent(fake)["files"][0]["id"]
    ask(TOKEN)
    assert sts_calls(fake) == 1 and sent(fake)["files"][0]["id"] == first
    ask("another-token-0002")  # another account has its own storage
    assert sts_calls(fake) == 2 and sent(fake)["files"][0]["id"] != first


def test_only_the_newest_attachments_are_sent(start_gateway, settings, fake):
    gateway = start_gateway(dataclasses.replace(settings, max_attachments=1))
    other = base64.b64encode(JPEG).decode()
    parts = [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{other}"}},
    ]
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"model": VISION_MODEL, "messages": [{"role": "user", "content": parts}]},
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert r.status_code == 200, r.text
    msg = sent(fake)
    assert [e["file_type"] for e in msg["files"]] == ["image/jpeg"]
    assert msg["content"] == "[image]\n[attached image 1]"


def test_a_file_that_is_not_what_it_claims_is_refused(client, fake):
    fake_png = base64.b64encode(b"<svg onload=alert(1)>").decode()
    with pytest.raises(openai.BadRequestError, match="not a PNG"):
        client.chat.completions.create(
            model=VISION_MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/png;base64,{fake_png}"},
                        }
                    ],
                }
            ],
        )
    with pytest.raises(openai.BadRequestError, match="cannot be sent"):
        client.chat.completions.create(
            model=VISION_MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "file",
                            "file": {"file_data": base64.b64encode(b"\x00\x01\x02\x03").decode()},
                        }
                    ],
                }
            ],
        )
    with pytest.raises(openai.BadRequestError, match="not valid base64"):
        client.chat.completions.create(
            model=VISION_MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}
                    ],
                }
            ],
        )
    assert not uploads(fake) and not fake.completions()


# ------------------------------------------------------------------------------ Anthropic, Gemini


def test_anthropic_image_and_document_blocks_are_attached(gateway, fake, origin):
    url = origin.put("/photo.png", fu.PNG, "image/png")
    manual = PDF.replace(b"trailer", b"% manual\ntrailer")
    doc_url = origin.put("/manual.pdf", manual, "application/pdf")
    r = anthropic(
        gateway,
        [
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": "image/jpeg",
                    "data": base64.b64encode(JPEG).decode(),
                },
            },
            {"type": "image", "source": {"type": "url", "url": url}},
            {
                "type": "document",
                "title": "Spec",
                "source": {"type": "base64", "media_type": "application/pdf", "data": PDF64},
            },
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "inline notes"},
            },
            {"type": "document", "source": {"type": "url", "url": doc_url}},
            {"type": "text", "text": "Summarise."},
        ],
    )
    assert r.status_code == 200, r.text
    msg = sent(fake)
    assert [(e["type"], e["file_type"]) for e in msg["files"]] == [
        ("image", "image/jpeg"),
        ("image", "image/png"),
        ("file", "application/pdf"),
        ("file", "application/pdf"),
    ]
    assert stored(fake, msg["files"][3]).data == manual and msg["files"][3]["name"] == "manual.pdf"
    assert msg["files"][2]["name"] == "Spec.pdf" and "inline notes" in msg["content"]


def test_pictures_a_tool_returned_are_attached(gateway, fake):
    shot = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG64}}
    r = requests.post(
        gateway.url + "/v1/messages",
        json={
            "model": VISION_MODEL,
            "max_tokens": 100,
            "tools": [{"name": "screenshot", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": "What is on my screen?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "toolu_1", "name": "screenshot", "input": {}}
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": "captured"}, shot],
                        }
                    ],
                },
            ],
        },
        headers={"x-api-key": TOKEN, "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 200, r.text
    msg = sent(fake)
    [entry] = msg["files"]
    assert stored(fake, entry).data == fu.PNG
    text = msg["content"]
    assert text.index("captured") < text.index("[attached image 1]")


def test_gemini_inline_data_and_file_data_are_attached(gateway, fake, origin):
    url = origin.put("/paper", PDF, "application/pdf")
    photo = origin.put("/photo", JPEG, "image/jpeg")
    notes = PDF.replace(b"trailer", b"% notes\ntrailer")
    r = gemini(
        gateway,
        [
            {"text": "Explain the figure and the paper."},
            {"inlineData": {"mimeType": "image/png", "data": PNG64}},
            {
                "fileData": {
                    "mimeType": "application/pdf",
                    "fileUri": url,
                    "displayName": "paper.pdf",
                }
            },
            {"inlineData": {"mimeType": "audio/wav", "data": base64.b64encode(WAV).decode()}},
            {
                "inlineData": {
                    "mimeType": "application/pdf",
                    "data": base64.b64encode(notes).decode(),
                }
            },
            {"fileData": {"mimeType": "image/jpeg", "fileUri": photo}},
        ],
    )
    assert r.status_code == 200, r.text
    msg = sent(fake)
    assert [e["type"] for e in msg["files"]] == ["image", "file", "audio", "file", "image"]
    assert (
        stored(fake, msg["files"][3]).data == notes and stored(fake, msg["files"][4]).data == JPEG
    )
    assert msg["files"][1]["name"] == "paper.pdf" and stored(fake, msg["files"][1]).data == PDF


# ------------------------------------------------------------------------------ the upload path


def test_the_2025_sts_endpoint_and_both_answer_shapes_work(client, fake):
    fake.enqueue(fu.http_error(404, b'{"detail":"Not Found"}'), path="/api/v2/files/getstsToken")
    picture = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}}
    client.chat.completions.create(
        model=VISION_MODEL, messages=[{"role": "user", "content": [picture]}]
    )
    paths = [r.path for r in fake.requests if "getstsToken" in r.path]
    assert paths == ["/api/v2/files/getstsToken", "/api/v1/files/getstsToken"]  # v1 answers flat
    assert len(uploads(fake)) == 1
    fake.sts_shapes["v2"] = "flat"
    other = {
        "type": "image_url",
        "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()},
    }
    client.chat.completions.create(
        model=VISION_MODEL, messages=[{"role": "user", "content": [other]}]
    )
    assert len(uploads(fake)) == 2 and sent(fake)["files"][0]["file_type"] == "image/jpeg"


def test_the_oss_signature_matches_aliyuns_documented_example():
    """The V1 example from Aliyun's "include a V1 signature in the Authorization header"."""
    headers = {
        "Content-MD5": "ODBGOERFMDMzQTczRUY3NUE3NzA5QzdFNUYzMDQxNEM=",
        "Content-Type": "text/html",
        "Date": "Thu, 17 Nov 2005 18:49:58 GMT",
        "X-OSS-Meta-Author": "foo@bar.com",
        "X-OSS-Magic": "abracadabra",
    }
    secret = "OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV"
    assert sign_v1(secret, "PUT", headers, "/oss-example/nelson") == "26NBxoKdsyly4EDv6inkoDft/yA="


def test_the_fake_refuses_a_wrongly_signed_upload(fake):
    answer = requests.post(
        fake.url + "/api/v2/files/getstsToken",
        json={"filename": "a.png", "filesize": len(fu.PNG), "filetype": "image"},
        headers=browser(fake, "/", TOKEN),  # the 2026-09 gate punishes a bare request
    ).json()
    sts = Sts.read(answer)
    blob = Blob(fu.PNG, "image/png", "a.png", "0" * 64)
    good = put_headers(sts, blob, "Tue, 01 Dec 2026 10:00:00 GMT")
    forged = put_headers(dataclasses.replace(sts, secret="guessed"), blob, good["Date"])
    no_token = put_headers(dataclasses.replace(sts, token="CAISstolen"), blob, good["Date"])
    for headers, code in ((forged, "SignatureDoesNotMatch"), (no_token, "InvalidSecurityToken")):
        r = requests.put(sts.object_url, data=fu.PNG, headers=headers)
        assert r.status_code == 403 and code in r.text
    assert fake.files[sts.file_id].data is None
    assert requests.put(sts.object_url, data=fu.PNG, headers=good).status_code == 200
    assert fake.files[sts.file_id].data == fu.PNG


def test_a_refused_upload_is_a_502_and_nothing_is_asked(client, fake):
    creds = {
        "access_key_id": "STS.x",
        "access_key_secret": "s",
        "security_token": "CAISx",
        "file_id": "f1",
        "file_url": fake.url + "/oss/qwen-webui-prod/nobody/f1_a.png?Expires=1",
        "file_path": "nobody/f1_a.png",
        "bucketname": "qwen-webui-prod",
    }
    fake.enqueue(fu._json(200, {"success": True, "data": creds}), path="/api/v2/files/getstsToken")
    fake.enqueue(fu.rate_limited(), path="/api/v2/files/getstsToken")  # for the second token
    picture = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}}
    with pytest.raises(openai.RateLimitError):
        client.with_options(api_key=TOKEN + ",second-token-2").chat.completions.create(
            model=VISION_MODEL, messages=[{"role": "user", "content": [picture]}]
        )
    with pytest.raises(openai.InternalServerError, match="AccessDenied"):
        fake.enqueue(
            fu._json(200, {"success": True, "data": creds}), path="/api/v2/files/getstsToken"
        )
        client.chat.completions.create(
            model=VISION_MODEL, messages=[{"role": "user", "content": [picture]}]
        )
    assert not fake.completions()


def test_a_document_the_upstream_cannot_read_is_a_400_and_a_slow_one_a_504(
    start_gateway, settings, fake
):
    gateway = start_gateway(dataclasses.replace(settings, poll_interval=0.01, parse_timeout=0.2))
    part = {"type": "file", "file": {"file_data": PDF64, "filename": "x.pdf"}}
    body = {"model": VISION_MODEL, "messages": [{"role": "user", "content": [part]}]}
    headers = {"Authorization": "Bearer " + TOKEN}
    fake.parse_outcome = "failed"
    r = requests.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)
    assert (
        r.status_code == 400
        and "could not read the document 'x.pdf'" in r.json()["error"]["message"]
    )
    fake.parse_outcome, fake.parse_pending = "success", 10_000
    r = requests.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 504 and "too long to read" in r.json()["error"]["message"]
    assert not fake.completions()
