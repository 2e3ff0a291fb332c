"""What a backend is asked to do, in no site's terms: one turn of a conversation, already
planned (model, chat type, thinking) and rendered (prompt text, loaded files). Defined below
the backends so they never import the service that builds it.

Also the gateway's own continuation handle, ``<chat_id>.<response_id>.<tag>``, which the
service issues and which callers hand back (``conversation_id``, video ids). The tag
(``Router.tag``) is the credential's fingerprint in pass-through mode (only a caller sending that
credential can use it); with server-held accounts an HMAC binding the chat to the caller's key
and the account (``accounts.bind``), which names no account to anyone else. Each dialect wraps
the handle in its own ids and unwraps them (``dialects/common.py``): only the bare handle
reaches this layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qwenfree.attachments import Blob
from qwenfree.upstream import paths


@dataclass(frozen=True, slots=True)
class Turn:
    model: str  # the upstream model id
    chat_type: str  # t2t, search, t2i, image_edit, t2v
    thinking: bool
    thinking_budget: int | None
    text: str  # the prompt: the whole conversation, or only the new turn when continuing
    blobs: tuple[Blob, ...] = field(default=(), repr=False)  # files to attach, loaded
    size: str | None = None  # aspect ratio of a picture or video
    chat_id: str | None = None  # continue this upstream chat (None: a new one)...
    parent_id: str | None = None  # ...after this answer in it
    prompt_tokens: int = 0  # the whole conversation's estimate (the text may hold only a part)
    caller_tools: bool = False  # the request declares tools of its own

    def follow_up(self, text: str, chat_id: str, parent_id: str | None) -> Turn:
        """The same turn asked again in the same chat with another text and no files."""
        return Turn(
            self.model,
            self.chat_type,
            self.thinking,
            self.thinking_budget,
            text,
            (),
            self.size,
            chat_id,
            parent_id,
        )


@dataclass(frozen=True, slots=True)
class Handle:
    chat_id: str
    response_id: str
    token_fp: str  # the tag: a credential's fingerprint, or accounts.bind() with accounts

    def __str__(self) -> str:
        return f"{self.chat_id}.{self.response_id}.{self.token_fp}"

    @classmethod
    def parse(cls, text: str | None) -> Handle | None:
        """Read a handle (its dialect already took the id prefix off); None if it is not one.
        Each part must have a shape we issue (a site's id, a hex fingerprint): anything else is
        never sent upstream. The backend checks its own id shape again before using one."""
        if not text or not isinstance(text, str):
            return None
        parts = text.split(".")
        if len(parts) != 3:
            return None
        chat_id, response_id, token_fp = parts
        if not (
            paths.shaped(paths.OPAQUE, chat_id)
            and paths.shaped(paths.OPAQUE, response_id)
            and paths.shaped(paths.FINGERPRINT, token_fp)
        ):
            return None
        return cls(chat_id, response_id, token_fp)
