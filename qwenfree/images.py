"""Pictures and videos, OpenAI-shaped: thin views over the chat service's drawing modes.

* ``POST /v1/images/generations`` draws (chat type ``t2i``): ``prompt``, ``n`` (1-4, one upstream
  answer each), ``size`` (mapped to the nearest of the upstream's 1:1, 4:3, 3:4, 16:9, 9:16),
  ``response_format`` ``url`` (the CDN URL, signed query kept) or ``b64_json``.
* ``POST /v1/images/edits`` edits pictures (``image_edit``), sent as multipart files
  (``image`` / ``image[]``) or in JSON as URLs or data URIs (``image``, or ``images`` of
  ``{image_url}``); URLs are fetched under the SSRF rules of ``fetch.py``.
* ``POST /v1/videos`` starts a video (``t2v``) and answers at once with an OpenAI video object;
  ``GET /v1/videos/{id}`` asks the upstream how it is going and
  ``GET /v1/videos/{id}/content`` redirects to the finished MP4.

Model names: a Qwen model that offers the mode; none, or OpenAI's (``dall-e-*``,
``gpt-image-*``, ``sora-*``), mean the default model. Errors are OpenAI's: this blueprint is not
a dialect, so the URL prefix picks the OpenAI envelope.
"""

from __future__ import annotations

import base64
import fnmatch
import re
import time
from typing import Any

from flask import Blueprint, Response, redirect, request
from marshmallow import EXCLUDE, Schema, fields, validate

from qwenfree import errors, meter, openapi, web
from qwenfree.accumulate import accumulate
from qwenfree.conversation import Conversation, GenerationParams, ImagePart, Message, Part, TextPart
from qwenfree.dialects.common import IdPrefix
from qwenfree.events import ImageOutput

bp = Blueprint("images", __name__, url_prefix="/v1")
OPENAI_MODELS = ("dall-e*", "gpt-image*", "sora*")
MAX_IMAGES = 4
MAX_EDIT_PICTURES = 16  # pictures in one edit request (the upstream attaches at most 5)
VIDEO_IDS = IdPrefix("video_")  # around the handle MessageStart names (chat, task, account)
# The ids POST /v1/videos hands out: video_<chat id>.<task id>.<account fingerprint>. Anything
# else is refused before an account is leased (each lease is a store write and a slot).
VIDEO_ID = re.compile(
    r"video_[A-Za-z0-9-]{1,64}\.[A-Za-z0-9_-]{1,128}\.[0-9a-f]{10}(?:[0-9a-f]{6})?"
)
VIDEO_STATES = {"running": "in_progress", "done": "completed", "failed": "failed"}


class GenerationSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    prompt = fields.String(required=True, validate=validate.Length(min=1, max=32000))
    model = fields.String(load_default=None, allow_none=True)
    n = fields.Integer(load_default=1, allow_none=False, validate=validate.Range(1, MAX_IMAGES))
    size = fields.String(load_default=None, allow_none=True)
    response_format = fields.String(
        load_default="url", allow_none=False, validate=validate.OneOf(("url", "b64_json"))
    )


class EditSchema(GenerationSchema):
    image = fields.Raw(load_default=None, allow_none=True)  # JSON: a URL or data URI, or a list
    images = fields.List(  # [{image_url}]
        fields.Dict(),
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=MAX_EDIT_PICTURES),
    )


class VideoSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    prompt = fields.String(required=True, validate=validate.Length(min=1, max=32000))
    model = fields.String(load_default=None, allow_none=True)
    size = fields.String(load_default=None, allow_none=True)
    seconds = fields.Raw(load_default=None, allow_none=True)  # the upstream picks the length


@bp.post("/images/generations")
@openapi.describe(body=GenerationSchema, summary="Draw pictures from a prompt")
def generations() -> Response:
    payload = web.load_or_raise(GenerationSchema, web.json_body())
    return _draw(payload, (TextPart(payload["prompt"]),), "t2i")


@bp.post("/images/edits")
@openapi.describe(body=EditSchema, summary="Edit pictures as a prompt says")
def edits() -> Response:
    payload, pictures = _edit_request()
    if not pictures:
        raise errors.InvalidRequest("Send the picture to edit as 'image'", param="image")
    return _draw(payload, (*pictures, TextPart(payload["prompt"])), "image_edit")


@bp.post("/videos")
@openapi.describe(body=VideoSchema, summary="Start a video from a prompt")
def create_video() -> Response:
    payload = web.load_or_raise(VideoSchema, _form_or_json())
    extra = {"chat_type": "t2v", "size": payload.get("size"), "detach": True}
    params = GenerationParams(model=_model(payload.get("model"), "t2v"), extra=extra)
    conversation = Conversation(None, (Message("user", (TextPart(payload["prompt"]),)),))
    done = accumulate(
        web.state().service.stream(conversation, params, web.bearer_tokens(), meter.current())
    )
    video = _video(VIDEO_IDS.encode(done.id), params.model, "queued", payload)
    return web.json_response(video)


@bp.get("/videos/<video_id>")
def get_video(video_id: str) -> Response:
    """Ask how a video is going (queued/in_progress, completed or failed)."""
    state, _ = _video_state(video_id)
    wait = max(1, round(web.state().settings.video_poll_interval * 1000))
    headers = {"openai-poll-after-ms": str(wait)}  # the openai SDK's poll() honours it
    return web.json_response(_video(video_id, "", VIDEO_STATES[state], {}), headers=headers)


@bp.get("/videos/<video_id>/content")
@openapi.describe(produces=("video/mp4",), query={"variant": "only 'video' is available"})
def video_content(video_id: str) -> Response:
    """Redirect to the finished video (its signed CDN URL)."""
    if request.args.get("variant", "video") != "video":
        raise errors.NotFound("Only the video itself is available (variant=video)")
    state, url = _video_state(video_id)
    if state != "done":
        raise errors.NotFound(f"The video {video_id} is not ready (it is {VIDEO_STATES[state]})")
    return redirect(url, 302)


# ------------------------------------------------------------------------------ helpers


def _draw(payload: dict[str, Any], parts: tuple[Part, ...], chat_type: str) -> Response:
    """Ask for pictures until ``n`` arrived (one upstream answer usually holds one)."""
    service = web.state().service
    extra = {"chat_type": chat_type, "size": payload.get("size")}
    params = GenerationParams(model=_model(payload.get("model"), chat_type), extra=extra)
    conversation = Conversation(None, (Message("user", parts),))
    found: list[ImageOutput] = []
    while len(found) < payload["n"]:
        done = accumulate(
            service.stream(conversation, params, web.bearer_tokens(), meter.current())
        )
        if not done.images:
            said = f": {done.text[:300]}" if done.text.strip() else ""
            raise errors.UpstreamEmpty(f"chat.qwen.ai answered without a picture{said}")
        found += done.images
    data = [_picture(image, payload["response_format"]) for image in found[: payload["n"]]]
    return web.json_response({"created": int(time.time()), "data": data})


def _picture(image: ImageOutput, response_format: str) -> dict[str, Any]:
    if response_format == "url":
        return {"url": image.url}
    st = web.state()
    data = st.service.download(image.url, st.settings.max_file_mb * 1024 * 1024)
    return {"b64_json": base64.b64encode(data).decode()}


def _model(name: str | None, mode: str) -> str:
    """The Qwen model a request names. OpenAI's image and video models (or none) mean the
    default model if it offers ``mode``, else the first model that does."""
    wanted = (name or "").strip()
    if wanted and not any(fnmatch.fnmatchcase(wanted.lower(), p) for p in OPENAI_MODELS):
        return wanted
    st = web.state()
    tokens = web.bearer_tokens()
    models, _ = st.service.catalog.models(tokens[0] if tokens else None)
    able = [m.id for m in models if mode in m.modes]
    default = st.service.catalog.default_model(tokens[0] if tokens else None)
    return default if default in able or not able else able[0]


def _form_or_json() -> dict[str, Any]:
    if request.mimetype == "multipart/form-data":
        return request.form.to_dict()
    body = web.json_body()
    if not isinstance(body, dict):
        raise errors.InvalidRequest("The request body must be a JSON object")
    return body


def _edit_request() -> tuple[dict[str, Any], list[ImagePart]]:
    """The edit's fields and its pictures, from a multipart form or a JSON body."""
    payload = web.load_or_raise(EditSchema, _form_or_json())
    if request.mimetype == "multipart/form-data":
        uploads = request.files.getlist("image") + request.files.getlist("image[]")
        if len(uploads) > MAX_EDIT_PICTURES:
            raise errors.InvalidRequest(f"At most {MAX_EDIT_PICTURES} pictures", param="image")
        return payload, [_uploaded(f.read(_max_bytes() + 1), f.mimetype) for f in uploads]
    given = payload.get("image")
    urls = given if isinstance(given, list) else [given] if given else []
    for item in payload.get("images") or ():
        urls.append(item.get("image_url"))
    if len(urls) > MAX_EDIT_PICTURES:
        raise errors.InvalidRequest(f"At most {MAX_EDIT_PICTURES} pictures", param="image")
    if not all(isinstance(u, str) and u.strip() for u in urls):
        raise errors.InvalidRequest("Pictures must be given as URLs or data URIs", param="image")
    return payload, [ImagePart(url=u) for u in urls]


def _uploaded(data: bytes, media_type: str) -> ImagePart:
    if len(data) > _max_bytes():
        raise errors.InvalidRequest(
            f"A picture is larger than {_max_bytes() // (1024 * 1024)} MB (QWENFREE_MAX_FILE_MB)",
            param="image",
        )
    return ImagePart(media_type or "", data=base64.b64encode(data).decode())


def _max_bytes() -> int:
    return web.state().settings.max_file_mb * 1024 * 1024


def _video_state(video_id: str) -> tuple[str, str]:
    if not VIDEO_ID.fullmatch(video_id):
        raise errors.NotFound(f"No video {video_id[:80]!r}")
    service = web.state().service
    job = VIDEO_IDS.decode(video_id) or ""  # VIDEO_ID matched: the prefix is there
    return service.videos.state(job, service.router, web.bearer_tokens())


def _video(video_id: str, model: str, status: str, payload: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI video object (the upstream says nothing about progress until it is done)."""
    now = int(time.time())
    return {
        "id": video_id,
        "object": "video",
        "model": model or "qwen",
        "status": status,
        "progress": 100 if status == "completed" else 0,
        "created_at": now,
        "completed_at": now if status == "completed" else None,
        "expires_at": None,
        "prompt": payload.get("prompt"),
        "size": payload.get("size") or "1280x720",
        "seconds": str(payload.get("seconds") or "4"),
        "remixed_from_video_id": None,
        "error": {"code": "failed", "message": "chat.qwen.ai could not make the video"}
        if status == "failed"
        else None,
    }
