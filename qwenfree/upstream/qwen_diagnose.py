"""``make doctor``'s walk on chat.qwen.ai: each call the gateway depends on, once, built from
the backend's own paths and bodies (so the walk follows the site's next change with it)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from qwenfree import errors
from qwenfree.attachments import Blob
from qwenfree.events import Event, ImageOutput, TextDelta
from qwenfree.upstream import qwen_auth
from qwenfree.upstream.accounts import AccountSpec, fingerprint, jwt_exp
from qwenfree.upstream.backend import Probe
from qwenfree.upstream.credentials import TokenKeeper, parse
from qwenfree.upstream.turn import Turn

if TYPE_CHECKING:
    from qwenfree.upstream.qwen_backend import QwenBackend

PROMPT = "Reply with the single word: ok"
PICTURE = "a small red circle on a white background"
PNG = b"\x89PNG\r\n\x1a\n"  # what the upload-credential probe names; nothing is uploaded


def probes(
    backend: QwenBackend,
    spec: AccountSpec,
    keeper: TokenKeeper,
    media: bool,
    secret: Callable[[str], None],
) -> list[Probe]:
    """The steps, in order; each names what it needs to have passed first."""
    from qwenfree.upstream import qwen_backend as paths  # the site's paths (imports this module)

    cred = parse(spec.token) if spec.token else None
    got: dict[str, str] = {"token": cred.access or "" if cred else ""}
    source = "sign in" if cred is None else "refresh" if cred.refresh else ""
    authed = (source,) if source else ()

    def form() -> str:
        if cred is None:
            return "email and password (signs in)"
        kept = cred.cookies.count("=")
        said = cred.kind + (f" ({kept} cookies besides the tokens)" if kept else "")
        exp = jwt_exp(cred.access) if cred.access else None
        if exp is None:
            return said
        left = round((exp - backend.clock()) / 60)
        return said + (f", expires in {left} min" if left > 0 else f", expired {-left} min ago")

    def sign_in() -> str:
        tokens = qwen_auth.sign_in(backend.client, str(spec.email), str(spec.password))
        for value in (tokens.access, tokens.refresh or ""):
            secret(value)
        got["token"] = tokens.access
        return "signed in" + (" (with a refresh token)" if tokens.refresh else "")

    def refresh() -> str:
        held = parse(str(spec.token))
        got["token"] = keeper.refresh_now(held.key, held)
        secret(got["token"])
        exp = jwt_exp(got["token"])
        return "new access token" + (
            f", valid {round((exp - backend.clock()) / 60)} min" if exp else ""
        )

    def check() -> str:
        me = backend.client.json("GET", paths.ME, got["token"])
        role = me.get("role") if isinstance(me, dict) else None
        if role not in ("user", "admin"):
            raise errors.UpstreamProtocolError(f"{paths.ME} answered without a user role")
        return f"role {role}"

    def models() -> str:
        listed = backend.client.json("GET", paths.MODELS, got["token"])
        data = listed.get("data") if isinstance(listed, dict) else None
        ids = [str(m["id"]) for m in data or () if isinstance(m, dict) and m.get("id")]
        if not ids:
            raise errors.UpstreamProtocolError(f"{paths.MODELS} lists no model (data[].id)")
        wanted = backend.settings.default_model
        got["model"] = wanted if wanted in ids else ids[0]
        return f"{len(ids)} models, using {got['model']}"

    def turn(chat_type: str, text: str) -> Turn:
        size = "1:1" if chat_type == "t2i" else None
        return Turn(got["model"], chat_type, False, None, text, size=size)

    def create() -> str:
        got["chat"] = backend._new_chat(turn("t2t", PROMPT), got["token"])
        secret(got["chat"])
        return "chat created"

    def read(chat_type: str, text: str) -> list[Event]:
        answer = backend._start(turn(chat_type, text), got["token"], got["chat"], None, [])
        try:
            return list(answer.events)
        finally:
            answer.close()

    def complete() -> str:
        events = read("t2t", PROMPT)
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        return f"answered {len(text)} characters in {len(events)} events"

    def delete() -> str:
        backend.delete_chat(got["chat"], got["token"])
        return "chat deleted"

    def upload() -> str:
        blob = Blob(PNG, "image/png", "doctor.png", fingerprint(PNG.hex()))
        sts = backend.uploader.credentials(blob, got["token"])
        for value in (sts.key_id, sts.secret, sts.token, sts.file_id, sts.file_url):
            secret(value)
        return "upload credentials received (nothing uploaded)"

    def image() -> str:
        got["chat"] = backend._new_chat(turn("t2i", PICTURE), got["token"])
        secret(got["chat"])
        try:
            pictures = [e for e in read("t2i", PICTURE) if isinstance(e, ImageOutput)]
        finally:
            with contextlib.suppress(errors.QwenfreeError):
                backend.delete_chat(got["chat"], got["token"])
        if not pictures:
            raise errors.UpstreamEmpty(f"{backend.name} drew no picture")
        for picture in pictures:
            secret(picture.url)
        return f"{len(pictures)} picture(s)"

    return [
        Probe("credential form", form),
        *([Probe(source, sign_in if cred is None else refresh)] if source else []),
        Probe("credential check", check, authed),
        Probe("model list", models, authed),
        Probe("create chat", create, ("model list",)),
        Probe("completion (stream)", complete, ("create chat",)),
        Probe("delete chat", delete, ("create chat",)),
        Probe("upload credential (STS)", upload, authed),
        Probe("image (t2i)", image, ("model list",), "" if media else "only with --media"),
    ]
