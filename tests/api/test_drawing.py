"""Pictures and videos out: /v1/images/generations and /edits, /v1/videos, the -image and -video
model suffixes in chat, and web-search citations in each dialect."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import warnings

import anthropic
import openai
import pytest
import requests

from tests import fake_upstream as fu
from tests.conftest import TOKEN, user
from tests.support.models import DRAW_MODEL, MODEL, NO_DRAWING_MODEL, default_model

PNG64 = base64.b64encode(fu.PNG).decode()


@pytest.fixture
def gateway(start_gateway, settings):
    return start_gateway(
        dataclasses.replace(settings, video_poll_interval=0.01, heartbeat_interval=0)
    )


@pytest.fixture
def client(gateway):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=TOKEN, max_retries=0, timeout=15)


def sent(fake) -> dict:
    return fake.last_completion().json


def quietly(call, *args, **kwargs):
    """The SDK marks its video API deprecated; the warning is not ours to fix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return call(*args, **kwargs)


# ------------------------------------------------------------------------------ pictures


def test_images_generate_with_the_openai_sdk_returns_the_signed_url(client, fake):
    url = "https://cdn.example/output/t2i/1.png?key=eyJh.bc&x=1"
    fake.enqueue(fu.answer("", image_url=url))
    done = client.images.generate(model="dall-e-3", prompt="a red fox", size="1792x1024")
    assert [d.url for d in done.data] == [url]
    body = sent(fake)
    msg = body["messages"][0]
    assert (msg["chat_type"], msg["content"], body["size"], msg["size"]) == (
        "t2i",
        "a red fox",
        "16:9",
        "16:9",
    )
    assert body["model"] == default_model(fake)  # dall-e-3: the site's first model draws
    assert msg["feature_config"]["thinking_enabled"] is False
    assert msg["files"] == []


def test_b64_json_and_several_pictures(client, fake):
    done = client.images.generate(
        model=DRAW_MODEL, prompt="two cats", n=2, size="1024x1536", response_format="b64_json"
    )
    assert [base64.b64decode(d.b64_json) for d in done.data] == [fu.PNG, fu.PNG]
    assert len(fake.completions()) == 2 and sent(fake)["size"] == "3:4"


def test_a_daily_quota_on_drawing_is_a_429(client, fake):
    fake.enqueue(fu.rate_limited(num=2))
    with pytest.raises(openai.RateLimitError) as caught:
        client.images.generate(prompt="a boat")
    assert caught.value.response.headers["Retry-After"] == "7200"


def test_an_answer_without_a_picture_is_a_502(client, fake):
    fake.enqueue(fu.answer("I cannot draw that."))
    with pytest.raises(openai.InternalServerError, match="without a picture: I cannot draw that."):
        client.images.generate(prompt="something")
    fake.enqueue(fu.empty_stream())
    with pytest.raises(openai.InternalServerError, match="empty answer"):
        client.images.generate(prompt="something")


def test_bad_drawing_requests_are_400s(client, fake):
    with pytest.raises(openai.BadRequestError, match="cannot draw pictures"):
        client.images.generate(model=NO_DRAWING_MODEL, prompt="x")
    with pytest.raises(openai.BadRequestError, match="size must be"):
        client.images.generate(prompt="x", size="huge")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="n"):
        client.images.generate(prompt="x", n=9)
    assert not fake.completions()


def test_the_image_suffix_draws_in_chat(client, fake):
    ids = {m.id for m in client.models.list()}
    assert {f"{DRAW_MODEL}-image", f"{DRAW_MODEL}-image-edit", f"{DRAW_MODEL}-video"} <= ids
    assert not {f"{NO_DRAWING_MODEL}-image", f"{NO_DRAWING_MODEL}-video"} & ids
    done = client.chat.completions.create(
        model=f"{DRAW_MODEL}-image",
        messages=[
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": "draw a lighthouse"},
        ],
    )
    msg = sent(fake)["messages"][0]
    assert msg["chat_type"] == "t2i" and msg["content"] == "draw a lighthouse"
    content = done.choices[0].message.content
    assert content.startswith("![image](") and "?key=abc)" in content


def test_images_edit_with_the_sdk_uploads_the_picture(client, fake):
    done = client.images.edit(
        model="gpt-image-1", image=("cat.png", io.BytesIO(fu.PNG), "image/png"), prompt="add a hat"
    )
    assert done.data[0].url.startswith(fake.url + "/output/image_edit/")
    msg = sent(fake)["messages"][0]
    assert (msg["chat_type"], msg["content"]) == ("image_edit", "add a hat")
    [entry] = msg["files"]
    assert entry["type"] == "image" and fake.files[entry["id"]].data == fu.PNG


def test_images_edit_takes_json_data_uris_and_needs_a_picture(gateway, fake):
    headers = {"Authorization": "Bearer " + TOKEN}
    r = requests.post(
        gateway.url + "/v1/images/edits",
        json={
            "prompt": "make it blue",
            "images": [{"image_url": f"data:image/png;base64,{PNG64}"}],
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["url"].endswith("?key=abc")
    r = requests.post(gateway.url + "/v1/images/edits", json={"prompt": "x"}, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["param"] == "image"


def test_image_edit_in_chat_edits_the_newest_picture(client, fake):
    picture = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}}
    client.chat.completions.create(
        model=f"{DRAW_MODEL}-image-edit",
        messages=[{"role": "user", "content": [picture, {"type": "text", "text": "crop it"}]}],
    )
    msg = sent(fake)["messages"][0]
    assert msg["chat_type"] == "image_edit" and len(msg["files"]) == 1
    with pytest.raises(openai.BadRequestError, match="needs a picture"):
        client.chat.completions.create(model=f"{DRAW_MODEL}-image-edit", messages=user("crop"))


# ------------------------------------------------------------------------------ videos


def test_the_video_suffix_waits_for_the_task_and_links_the_video(client, fake):
    fake.task_polls = 3
    done = client.chat.completions.create(model=f"{DRAW_MODEL}-video", messages=user("a sunrise"))
    [task] = fake.tasks.values()
    assert (
        done.choices[0].message.content == f"[video]({fake.url}/output/t2v/{task.id}.mp4?key=abc)"
    )
    body = sent(fake)
    assert body["stream"] is False and body["messages"][0]["chat_type"] == "t2v"
    status = "/api/v2/task/status/" if fake.modern else "/api/v1/tasks/status/"
    polls = [r for r in fake.requests if r.path.startswith(status)]
    assert len(polls) == 4


def test_a_streamed_video_keeps_the_client_alive_while_it_waits(start_gateway, settings, fake):
    gateway = start_gateway(
        dataclasses.replace(settings, video_poll_interval=0.05, heartbeat_interval=0.02)
    )
    fake.task_polls = 6
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json={"model": f"{DRAW_MODEL}-video", "messages": user("waves"), "stream": True},
        headers={"Authorization": "Bearer " + TOKEN},
    )
    assert r.status_code == 200
    assert ": ping" in r.text and "[video](" in r.text and r.text.endswith("data: [DONE]\n\n")


@pytest.mark.parametrize(
    ("outcome", "message"), [("failed", "could not make"), ("empty", "without a video")]
)
def test_a_failed_or_empty_video_is_an_error(client, fake, outcome, message):
    fake.task_outcome = outcome
    with pytest.raises(openai.InternalServerError, match=message):
        client.chat.completions.create(model=f"{DRAW_MODEL}-video", messages=user("a storm"))


def test_the_videos_api_starts_polls_and_serves_the_video(client, fake):
    fake.task_polls = 2
    video = quietly(client.videos.create, model="sora-2", prompt="a cat surfing", size="720x1280")
    assert video.status == "queued" and video.id.startswith("video_")
    # sora-2: the site's first model that makes videos (legacy's first, qwen3-max, could not)
    maker = next(m["id"] for m in fake.models if "t2v" in m["info"]["meta"]["chat_type"])
    assert sent(fake)["size"] == "9:16" and sent(fake)["model"] == maker
    assert quietly(client.videos.retrieve, video.id).status == "in_progress"
    done = quietly(client.videos.poll, video.id)  # paced by our openai-poll-after-ms
    assert done.status == "completed"
    content = quietly(client.videos.download_content, video.id)
    assert content.read() == fu.PNG  # the fake serves its one file for every /output URL


def test_the_videos_api_reports_failures(client, fake, gateway):
    fake.task_outcome, fake.task_polls = "failed", 0
    video = quietly(client.videos.create, prompt="x")
    assert quietly(client.videos.retrieve, video.id).status == "failed"
    with pytest.raises(openai.NotFoundError):
        quietly(client.videos.download_content, video.id)
    r = requests.get(
        gateway.url + "/v1/videos/video_nope", headers={"Authorization": "Bearer " + TOKEN}
    )
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"
    other = openai.OpenAI(base_url=client.base_url, api_key="other-token-9", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="another account|cannot use"):
        quietly(other.videos.retrieve, video.id)
    fake.enqueue(fu.rate_limited())
    with pytest.raises(openai.RateLimitError):
        quietly(client.videos.create, prompt="y")


# ------------------------------------------------------------------------------ web search


SOURCE = {"url": "https://example.org/news", "title": "News", "snippet": "Something happened."}


def test_anthropic_search_answers_carry_citations(gateway, fake):
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=TOKEN, max_retries=0)
    fake.enqueue(fu.answer("It happened.", search=[SOURCE]))
    msg = claude.messages.create(model=f"{MODEL}-search", max_tokens=100, messages=user("news?"))
    [block] = msg.content
    [cited] = block.citations
    assert (cited.type, cited.url, cited.title, cited.cited_text) == (
        "web_search_result_location",
        SOURCE["url"],
        "News",
        "Something happened.",
    )
    fake.enqueue(fu.answer("It happened.", search=[SOURCE]))
    with claude.messages.stream(
        model=f"{MODEL}-search", max_tokens=100, messages=user("news?")
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "It happened."
    assert [c.url for c in final.content[0].citations] == [SOURCE["url"]]


def test_openai_and_gemini_search_answers_carry_their_sources(client, gateway, fake):
    fake.enqueue(fu.answer("It happened.", search=[SOURCE]))
    done = client.chat.completions.create(
        model=MODEL, messages=user("news?"), extra_body={"web_search_options": {}}
    )
    [note] = done.choices[0].message.annotations
    assert note.url_citation.url == SOURCE["url"]
    fake.enqueue(fu.answer("It happened.", search=[SOURCE]))
    r = requests.post(
        gateway.url + f"/v1beta/models/{MODEL}:generateContent",
        json={"contents": [{"parts": [{"text": "news?"}]}], "tools": [{"googleSearch": {}}]},
        headers={"x-goog-api-key": TOKEN},
    )
    grounding = r.json()["candidates"][0]["groundingMetadata"]
    assert grounding["groundingChunks"][0]["web"]["uri"] == SOURCE["url"]
    assert json.loads(json.dumps(grounding))  # plain JSON
