"""Planning a turn: what to ask the upstream before any credential is tried.

``Planner.plan`` reads a request once: the output rules (tools, JSON, stop strings), the model
the credential's catalog resolves, thinking, chat type and aspect ratio, the continuation
handle, and the request's images and files (loaded and checked once: a bad file is the
caller's fault, not a credential's). A conversation longer than the model's context length is
refused here, measured as ``count_tokens`` measures it, so the two agree.

``Planner.turn`` renders the ``Turn`` a backend is sent: the prompt text (the whole history, or
only the new turn when a chat is continued), its files, and for a text too large for one
request body the older part moved into attached text files (``long_prompt``) where the backend
takes them; else it is refused. Drawing modes send the latest user text (``media``).

Nothing here opens an answer or leases a credential; backends never import this module.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from qwenfree import attachments, errors, long_prompt, media, prompt, tokens
from qwenfree.catalog import ModelInfo
from qwenfree.conversation import Conversation, GenerationParams
from qwenfree.fetch import Fetcher
from qwenfree.settings import Settings
from qwenfree.tools.engine import OutputRules
from qwenfree.upstream.accounts import Router
from qwenfree.upstream.backend import Backend, Backends
from qwenfree.upstream.turn import Handle, Turn

log = logging.getLogger(__name__)
ENTRY_BYTES = 1024  # what one files[] entry adds to the upstream request body


@dataclass(frozen=True, slots=True)
class Plan:
    model: ModelInfo
    thinking: bool
    thinking_budget: int | None
    chat_type: str
    rules: OutputRules  # read once: the prompt states them, the shaper enforces them
    files: attachments.RequestFiles  # this request's images and files, loaded once
    size: str | None = None  # aspect ratio of a picture or video
    tokens: int = 0  # the whole prompt's estimate (count_tokens), checked against the model's
    handle: Handle | None = None  # the caller's continuation of an earlier answer


class Planner:
    def __init__(self, settings: Settings, backends: Backends, router: Router) -> None:
        self.settings = settings
        self.backends = backends
        self.router = router  # names the credential whose site's catalog resolves the model
        mib = 1024 * 1024
        hosts = settings.fetch_allow_hosts.split(",")
        self.fetcher = Fetcher(settings.max_file_mb * mib, hosts, settings.fetch_timeout)

    def plan(
        self, conversation: Conversation, params: GenerationParams, tokens: Sequence[str]
    ) -> Plan:
        """Decide everything a credential does not change; raise on what cannot work (a bad
        request before a missing credential). ``tokens``: the caller's, as the router takes them."""
        rules = self.rules(conversation, params)
        token = self.router.catalog_token(tokens)
        resolved = self.backends.for_credential(token).catalog().resolve(params.model, token)
        model = resolved.model
        thinking = resolved.thinking if resolved.thinking is not None else params.thinking
        if thinking and not model.thinking and model.known:
            if not params.thinking_optional:
                raise errors.InvalidRequest(f"The model '{model.id}' cannot think", param="model")
            thinking = False
        thinking = bool(thinking) or model.thinking_required
        chat_type = media.chat_type(resolved, params)
        if chat_type in media.DRAWING:
            thinking = model.thinking_required
        files = attachments.RequestFiles(self.fetcher, self.settings.max_attachments)
        size = media.aspect_ratio(params.extra.get("size"))
        plan = Plan(model, thinking, params.thinking_budget, chat_type, rules, files, size)
        plan = self._within_context(plan, conversation)
        handle = Handle.parse(params.continuation)
        media.preload(chat_type, files, conversation, continuing=handle is not None)
        return dataclasses.replace(plan, handle=handle)

    def rules(self, conversation: Conversation, params: GenerationParams) -> OutputRules:
        """What the answer may or must contain; raise ``InvalidRequest`` for a choice that
        cannot work."""
        return OutputRules.of(conversation, params, self.settings.tool_description_chars)

    def _within_context(self, plan: Plan, conversation: Conversation) -> Plan:
        """Refuse a conversation longer than the model's own context (the site's
        ``max_context_length``); the wording is Anthropic's, which Claude Code reads to compact
        its history."""
        if plan.chat_type in media.DRAWING:
            return plan
        counted = tokens.estimate(prompt.sections(conversation, plan.rules).text())
        if counted > plan.model.context_length:
            raise prompt.too_long(counted, plan.model.context_length)
        return dataclasses.replace(plan, tokens=counted)

    def count_tokens(self, conversation: Conversation, params: GenerationParams) -> int:
        """The whole prompt's tokens as the context check counts them (``tokens.estimate``
        of the text, moved files included), for every dialect's token-counting endpoint."""
        rules = self.rules(conversation, params)
        return tokens.estimate(prompt.sections(conversation, rules).text())

    def turn(
        self,
        backend: Backend,
        plan: Plan,
        conversation: Conversation,
        *,
        continuing: bool = False,
    ) -> Turn:
        """The turn ``backend`` is sent: the whole history in a new chat, or (``continuing``)
        only the new turn in the chat of ``plan.handle``; with the files it carries, loaded and
        checked (size included) before anything is uploaded or created upstream for them. A
        text too large for one request body moves, in part, into attached text files when the
        backend takes them (``long_prompt``); else it is refused."""
        handle = plan.handle if continuing else None
        messages = prompt.new_turn(conversation) if continuing else None
        files, max_kb = plan.files, self.settings.max_prompt_kb
        if plan.chat_type in media.DRAWING:
            edit = plan.chat_type == "image_edit"
            blobs = files.select(list(media.edit_sources(conversation)))[0] if edit else []
            text = media.drawing_prompt(conversation)
        else:
            msgs = conversation.messages if messages is None else messages
            blobs, labels = files.select(attachments.media_parts(msgs))
            sections = prompt.sections(conversation, plan.rules, messages, labels=labels)
            text = sections.text()
            if backend.takes_text_files and not prompt.fits(text, max_kb, ENTRY_BYTES * len(blobs)):
                room = ENTRY_BYTES * (len(blobs) + long_prompt.MAX_FILES)
                split = long_prompt.split(sections, prompt.budget(max_kb, room))
                if split is not None:
                    text, blobs = split.text, [*blobs, *split.files]
                    log.info("the prompt travels in %d attached text files", len(split.files))
        prompt.check_size(text, max_kb, ENTRY_BYTES * len(blobs))
        return Turn(
            plan.model.id,
            plan.chat_type,
            plan.thinking,
            plan.thinking_budget,
            text,
            tuple(blobs),
            plan.size,
            handle.chat_id if handle else None,
            handle.response_id if handle else None,
            plan.tokens,
            bool(conversation.tools),
        )
