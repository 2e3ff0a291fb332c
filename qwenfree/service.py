"""ChatService: one conversation turn against an upstream site as a stream of neutral events.

It resolves the model and mode, picks a token, and has the token's ``Backend`` (one per site,
``upstream/backend.py``) open the answer in a new or continued chat, read until its first
event. Everything that can fail
before that point may be retried on another token; once content has been yielded, failures
propagate to the caller as they are. The first event is ``MessageStart`` whose ``id`` is a
continuation handle ``<chat_id>.<response_id>.<token fingerprint>``.

Every answer runs through the tool engine's ``Shaper`` (``qwenfree/tools``): calls become
``ToolCallStart``/``ToolCallDelta`` events and ``StopReason.TOOL_USE``. When the reply cannot be
used (a required call is missing, JSON mode got prose) and nothing has been sent yet, the same
upstream chat is asked once more with a follow-up message before ``MessageStart`` is yielded.

Images and files in the conversation are loaded once per request, before any token is tried
(``attachments.py``; a bad file is the caller's fault), and handed to the backend in the
``Turn``, which uploads them per token. A conversation longer than the model's context length
is refused before any token is tried (as ``count_tokens`` counts it); one too large for a single
request body keeps its recent part in the message and travels otherwise as attached text files
(``long_prompt.py``) where the backend takes them. Drawing modes (``media.py``) send
the latest user text: ``t2i`` and ``image_edit`` answer like chat, ``t2v`` with a task polled
until the video is ready.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from qwenfree import attachments, errors, long_prompt, media, meter, prompt
from qwenfree.catalog import ModelInfo
from qwenfree.chats import ChatJanitor
from qwenfree.conversation import Conversation, GenerationParams, Message
from qwenfree.events import (
    Event,
    MessageStart,
    MessageStop,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from qwenfree.fetch import Fetcher
from qwenfree.settings import Settings
from qwenfree.tokens import estimate as estimate_tokens
from qwenfree.tools.engine import OutputRules, Shaper
from qwenfree.upstream.accounts import Lease, Router
from qwenfree.upstream.backend import Answer, Backend, Backends
from qwenfree.upstream.turn import Handle, Turn

log = logging.getLogger(__name__)
ENTRY_BYTES = 1024  # what one files[] entry adds to the upstream request body


@dataclass(frozen=True, slots=True)
class Plan:
    model: ModelInfo
    thinking: bool
    thinking_budget: int | None
    chat_type: str
    files: attachments.RequestFiles | None = None  # this request's images and files, loaded once
    size: str | None = None  # aspect ratio of a picture or video
    tokens: int = 0  # the whole prompt's estimate (count_tokens), checked against the model's


class ChatService:
    def __init__(
        self,
        settings: Settings,
        backends: Backends,
        router: Router,
        janitor: ChatJanitor,
    ) -> None:
        self.settings = settings
        self.backends = backends
        self.catalog = backends.default.catalog()  # the listing dialects show
        self.router = router  # the caller's tokens (ClientTokens) or the server's AccountPool
        self.janitor = janitor
        mib = 1024 * 1024
        hosts = settings.fetch_allow_hosts.split(",")
        self.fetcher = Fetcher(settings.max_file_mb * mib, hosts, settings.fetch_timeout)
        self.videos = media.VideoTasks(backends, settings)

    def plan(self, params: GenerationParams, token: str | None) -> Plan:
        """Decide model, thinking and chat type; raise on what cannot work."""
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
        return Plan(model, thinking, params.thinking_budget, chat_type, files, size)

    def _within_context(
        self, plan: Plan, conversation: Conversation, params: GenerationParams
    ) -> Plan:
        """Refuse a conversation longer than the model's own context (the site's
        ``max_context_length``), measured as ``count_tokens`` measures it, so the two agree;
        the wording is Anthropic's, which Claude Code reads to compact its history."""
        if plan.chat_type in media.DRAWING:
            return plan
        counted = self.count_tokens(conversation, params)
        if counted > plan.model.context_length:
            raise prompt.too_long(counted, plan.model.context_length)
        return dataclasses.replace(plan, tokens=counted)

    def stream(
        self, conversation: Conversation, params: GenerationParams, tokens: Sequence[str]
    ) -> Iterator[Event]:
        """Yield the events of one answer; retry on another token only before the first.

        ``tokens`` are the caller's upstream tokens in client-token mode; with server-held
        accounts the router ignores them (they are the caller's key to us)."""
        metered = meter.current() or meter.Meter("")  # kept: later events may run elsewhere
        rules = OutputRules.of(conversation, params)
        plan = self.plan(params, self.router.catalog_token(tokens))
        plan = self._within_context(plan, conversation, params)
        metered.model = plan.model.id if plan.model.known else "other"
        handle = Handle.parse(params.continuation)
        media.preload(plan.chat_type, plan.files, conversation, continuing=handle is not None)
        prefer = handle.token_fp if handle else None
        failure: errors.QwenfreeError | None = None
        for lease in self.router.leases(tokens, plan.chat_type, prefer):
            try:
                metered.attempts += 1
                answer = self._answer(conversation, params, rules, plan, lease, handle)
                try:
                    first = next(answer)
                except errors.QwenfreeError as err:
                    self._report(lease, err, metered)
                    if not err.retryable:
                        raise
                    failure = err
                    continue
                metered.account = lease.alias
                metered.answer_started()
                try:
                    yield first
                    for event in answer:
                        if isinstance(event, Usage):
                            metered.input_tokens = event.input_tokens
                            metered.output_tokens = event.output_tokens
                        yield event
                except errors.QwenfreeError as err:
                    self._report(lease, err, metered)
                    raise
                finally:
                    answer.close()
                self.router.succeeded(lease)
                return
            finally:
                lease.release()
        raise failure or errors.NoTokenAvailable("No upstream token could be tried")

    def _answer(
        self,
        conversation: Conversation,
        params: GenerationParams,
        rules: OutputRules,
        plan: Plan,
        lease: Lease,
        handle: Handle | None,
    ) -> Iterator[Event]:
        token, fp = lease.token, lease.fp
        backend = self.backends.for_credential(token)
        if plan.chat_type == "t2v":
            yield from self._video(backend, conversation, params, plan, token, fp)
            return
        answers = [self._open(backend, conversation, params, plan, token, fp, handle)]
        try:
            shaper, held = self._settle(answers[-1], Shaper(rules))
            nudge = shaper.problem()
            if nudge is not None:
                log.info("the answer broke the requested output rules; asking once more")
                answers.append(backend.follow_up(answers[-1], nudge))
                shaper, held = self._settle(answers[-1], Shaper(rules, last_chance=True))
            last = answers[-1]
            handle_id = Handle(last.chat_id, last.response_id, fp)
            yield MessageStart(str(handle_id), plan.model.id, _input_tokens(last))
            written = _Written()
            yield from written.count(held)
            yield from written.count(self._rest(last, shaper))
            # A site that reports no usage (Tongyi) gets an estimate: LobeChat and Dify read it.
            yield last.usage or Usage(_input_tokens(last), written.tokens())
            yield MessageStop(shaper.stop_reason, shaper.stop_sequence)
        finally:
            for answer in answers:
                answer.close()

    def _settle(self, answer: Answer, shaper: Shaper) -> tuple[Shaper, list[Event]]:
        """Read until the shaper commits to the answer (at once, unless a call is required or
        JSON is due) or the answer ends; return the events held so far."""
        held: list[Event] = []
        for event in answer.events:
            held += shaper.feed(event)
            if shaper.committed or shaper.done:
                break
        if not shaper.committed:
            _check_answered(answer)
            held += shaper.finish()
        return shaper, held

    def _rest(self, answer: Answer, shaper: Shaper) -> Iterator[Event]:
        """The remainder of a committed answer, shaped; nothing when it was already read."""
        if shaper.finished:
            return
        if not shaper.done:
            for event in answer.events:
                yield from shaper.feed(event)
                if shaper.done:
                    break
        _check_answered(answer)
        yield from shaper.finish()

    def _open(
        self,
        backend: Backend,
        conversation: Conversation,
        params: GenerationParams,
        plan: Plan,
        token: str,
        fp: str,
        handle: Handle | None,
    ) -> Answer:
        if handle is not None and handle.token_fp == fp:
            new = prompt.new_turn(conversation)
            try:
                turn = self._turn(backend, plan, conversation, params, new, handle)
                return backend.open(turn, token)
            except errors.ChatNotFound:
                log.info("continued chat is gone upstream; replaying the history in a new chat")
        # The whole history: checked (size included) before anything is created upstream.
        return backend.open(self._turn(backend, plan, conversation, params), token)

    def _turn(
        self,
        backend: Backend,
        plan: Plan,
        conversation: Conversation,
        params: GenerationParams,
        messages: tuple[Message, ...] | None = None,
        handle: Handle | None = None,
    ) -> Turn:
        """The turn a backend is sent: the text for ``messages`` (None: all) and the files it
        carries, loaded and checked (size included) before anything is uploaded or created
        upstream for them. A text too large for one request body moves, in part, into attached
        text files when the backend takes them (``long_prompt``); else it is refused."""
        files = plan.files or attachments.RequestFiles(self.fetcher, 0)
        max_kb = self.settings.max_prompt_kb
        if plan.chat_type in media.DRAWING:
            edit = plan.chat_type == "image_edit"
            blobs = files.select(list(media.edit_sources(conversation)))[0] if edit else []
            text = media.drawing_prompt(conversation)
        else:
            msgs = conversation.messages if messages is None else messages
            blobs, labels = files.select(attachments.media_parts(msgs))
            sections = self._sections(conversation, params, messages, labels)
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

    def _video(
        self,
        backend: Backend,
        conversation: Conversation,
        params: GenerationParams,
        plan: Plan,
        token: str,
        fp: str,
    ) -> Iterator[Event]:
        """A video: the task is started (failures so far may try another token), then polled
        until the video is ready. ``MessageStart.id`` names the chat, the task and the token;
        with ``extra["detach"]`` (``/v1/videos``) the answer ends there and the caller polls
        (the chat is then kept until shutdown: deleting it might end the task)."""
        turn = self._turn(backend, plan, conversation, params)
        job = backend.start_video(turn, token)  # holds the chat in the janitor
        detached = False
        try:
            handle = Handle(job.chat_id, job.task_id, fp)
            yield MessageStart(str(handle), plan.model.id, estimate_tokens(turn.text))
            detached = bool(params.extra.get("detach"))
            if not detached:
                yield TextDelta(f"[video]({self.videos.wait(backend, job.task_id, token)})")
                yield MessageStop()
        finally:
            if not detached:
                self.janitor.release(job.chat_id)

    def count_tokens(self, conversation: Conversation, params: GenerationParams) -> int:
        """The whole prompt's tokens as the context check counts them (``tokens.estimate``
        of the text, moved files included), for every dialect's token-counting endpoint."""
        return estimate_tokens(self._prompt(conversation, params))

    def _prompt(self, conversation: Conversation, params: GenerationParams) -> str:
        return self._sections(conversation, params).text()

    def _sections(
        self,
        conversation: Conversation,
        params: GenerationParams,
        messages: tuple[Message, ...] | None = None,
        labels: attachments.Labels | None = None,
    ) -> prompt.Sections:
        limit = self.settings.tool_description_chars
        return prompt.sections(
            conversation, params, messages, description_chars=limit, labels=labels
        )

    def delete_chat(self, chat_id: str, token: str) -> None:
        """Delete an upstream chat (or session) this service created."""
        self.backends.delete_chat(chat_id, token)

    def check_token(self, token: str) -> bool:
        """Does the upstream accept this credential? Raise when it cannot tell."""
        return self.backends.for_credential(token).check(token)

    def download(self, url: str, max_bytes: int) -> bytes:
        """A file the upstream generated (a picture's CDN URL)."""
        return self.backends.default.download(url, max_bytes)

    def close(self) -> None:
        self.backends.close()

    def _report(self, lease: Lease, err: errors.QwenfreeError, metered: meter.Meter) -> None:
        log.warning("upstream token %s failed: %s (%s)", lease.alias, err.kind, err.message)
        metered.upstream_errors.append(err.kind)
        self.router.report(lease, err)


def _check_answered(answer: Answer) -> None:
    if not answer.answered:
        raise errors.UpstreamEmpty(f"{answer.site} ended the answer after thinking, with no reply")


class _Written:
    """What an answer wrote, for a usage estimate where the site reports none."""

    def __init__(self) -> None:
        self.chars: list[str] = []

    def count(self, events: Iterable[Event]) -> Iterator[Event]:
        for event in events:
            if isinstance(event, TextDelta | ReasoningDelta):
                self.chars.append(event.text)
            elif isinstance(event, ToolCallDelta):
                self.chars.append(event.arguments)
            yield event

    def tokens(self) -> int:
        return estimate_tokens("".join(self.chars))


def _input_tokens(answer: Answer) -> int:
    """The upstream's count, else our estimate of the whole prompt (attached files included)."""
    usage = answer.usage
    if usage is not None:
        return usage.input_tokens
    return answer.turn.prompt_tokens or estimate_tokens(answer.turn.text)
