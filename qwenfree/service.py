"""ChatService: one conversation turn against chat.qwen.ai as a stream of neutral events.

It resolves the model and mode, picks a token, creates (or continues) an upstream chat, opens
the completion stream and reads until the first piece of content. Everything that can fail
before that point may be retried on another token; once content has been yielded, failures
propagate to the caller as they are. The first event is ``MessageStart`` whose ``id`` is a
continuation handle ``<chat_id>.<response_id>.<token fingerprint>``.

Every answer runs through the tool engine's ``Shaper`` (``qwenfree/tools``): calls become
``ToolCallStart``/``ToolCallDelta`` events and ``StopReason.TOOL_USE``. When the reply cannot be
used (a required call is missing, JSON mode got prose) and nothing has been sent yet, the same
upstream chat is asked once more with a follow-up message before ``MessageStart`` is yielded.

Images and files in the conversation are loaded once per request, before any token is tried
(``attachments.py``; a bad file is the caller's fault), then uploaded per token (cached by
content, ``upstream/files.py``) and attached to the message. Drawing modes (``media.py``) send
the latest user text: ``t2i`` and ``image_edit`` answer like chat, ``t2v`` with a task polled
until the video is ready.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

from qwenfree import attachments, errors, media, meter, prompt
from qwenfree.catalog import ModelCatalog, ModelInfo
from qwenfree.chats import ChatJanitor
from qwenfree.conversation import Conversation, GenerationParams, Message
from qwenfree.events import Event, MessageStart, MessageStop, TextDelta, Usage
from qwenfree.fetch import Fetcher
from qwenfree.settings import Settings
from qwenfree.tools.engine import OutputRules, Shaper
from qwenfree.upstream import qwen, tongyi
from qwenfree.upstream.accounts import Lease, Router, fingerprint
from qwenfree.upstream.client import UpstreamClient, UpstreamStream
from qwenfree.upstream.files import Uploader

log = logging.getLogger(__name__)
HANDLE_PREFIXES = ("chatcmpl-", "msg_", "resp_")
ENTRY_BYTES = 1024  # what one files[] entry adds to the upstream request body


@dataclass(frozen=True, slots=True)
class Plan:
    model: ModelInfo
    thinking: bool
    thinking_budget: int | None
    chat_type: str
    files: attachments.RequestFiles | None = None  # this request's images and files, loaded once
    size: str | None = None  # aspect ratio of a picture or video


@dataclass(frozen=True, slots=True)
class Handle:
    chat_id: str
    response_id: str
    token_fp: str

    def __str__(self) -> str:
        return f"{self.chat_id}.{self.response_id}.{self.token_fp}"

    @classmethod
    def parse(cls, text: str | None) -> Handle | None:
        """Read a handle from an id we returned earlier; None if it is not one."""
        if not text:
            return None
        for prefix in HANDLE_PREFIXES:
            text = text.removeprefix(prefix)
        parts = text.split(".")
        return cls(*parts) if len(parts) == 3 and all(parts) else None


@dataclass
class Attempt:
    """One upstream answer being read: its chat, its stream and the events not yet consumed."""

    chat_id: str
    upstream: UpstreamStream
    events: Iterator[Event]
    prompt_tokens: int  # our estimate, until the upstream reports usage

    @property
    def response_id(self) -> str:
        parser = self.upstream.parser
        return parser.response_id or parser.created_id or ""

    @property
    def input_tokens(self) -> int:
        usage = self.upstream.parser.usage
        return usage.input_tokens if usage is not None else self.prompt_tokens


class ChatService:
    def __init__(
        self,
        settings: Settings,
        client: UpstreamClient,
        catalog: ModelCatalog,
        router: Router,
        janitor: ChatJanitor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client = client
        self.catalog = catalog
        self.router = router  # the caller's tokens (ClientTokens) or the server's AccountPool
        self.janitor = janitor
        self.clock = clock
        mib = 1024 * 1024
        hosts = settings.fetch_allow_hosts.split(",")
        self.fetcher = Fetcher(settings.max_file_mb * mib, hosts, settings.fetch_timeout)
        self.uploader = Uploader(client, settings)
        self.videos = media.VideoTasks(client, settings)
        # The second backend: Tongyi tickets (anything that is not a chat.qwen.ai JWT).
        self.tongyi_client = UpstreamClient(settings, tongyi.site(settings))
        self.tongyi_catalog = tongyi.catalog(settings)

    def plan(self, params: GenerationParams, token: str | None) -> Plan:
        """Decide model, thinking and chat type; raise on what cannot work."""
        catalog = self.tongyi_catalog if token and self.is_ticket(token) else self.catalog
        resolved = catalog.resolve(params.model, token)
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

    def stream(
        self, conversation: Conversation, params: GenerationParams, tokens: Sequence[str]
    ) -> Iterator[Event]:
        """Yield the events of one answer; retry on another token only before the first.

        ``tokens`` are the caller's upstream tokens in client-token mode; with server-held
        accounts the router ignores them (they are the caller's key to us)."""
        metered = meter.current() or meter.Meter("")  # kept: later events may run elsewhere
        rules = OutputRules.of(conversation, params)
        plan = self.plan(params, self.router.catalog_token(tokens))
        metered.model = plan.model.id if plan.model.known else "other"
        handle = Handle.parse(params.continuation)
        media.preload(plan.chat_type, plan.files, conversation, continuing=handle is not None)
        prefer = handle.token_fp if handle else None
        failure: errors.QwenfreeError | None = None
        for lease in self.router.leases(tokens, plan.chat_type, prefer):
            try:
                metered.attempts += 1
                answer = self._answer(conversation, params, rules, plan, lease.token, handle)
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
        token: str,
        handle: Handle | None,
    ) -> Iterator[Event]:
        if plan.chat_type == "t2v":
            yield from self._video(conversation, params, plan, token)
            return
        attempts = [self._open(conversation, params, plan, token, handle)]
        try:
            shaper, held = self._settle(attempts[-1], Shaper(rules))
            nudge = shaper.problem()
            if nudge is not None:
                log.info("the answer broke the requested output rules; asking once more")
                last = attempts[-1]
                attempts.append(self._start(plan, token, last.chat_id, last.response_id, nudge))
                shaper, held = self._settle(attempts[-1], Shaper(rules, last_chance=True))
            last = attempts[-1]
            handle_id = Handle(last.chat_id, last.response_id, fingerprint(token))
            yield MessageStart(str(handle_id), plan.model.id, last.input_tokens)
            yield from held
            yield from self._rest(last, shaper)
            if last.upstream.parser.usage is not None:
                yield last.upstream.parser.usage
            yield MessageStop(shaper.stop_reason, shaper.stop_sequence)
        finally:
            for attempt in attempts:
                self._close(attempt)

    def _settle(self, attempt: Attempt, shaper: Shaper) -> tuple[Shaper, list[Event]]:
        """Read until the shaper commits to the answer (at once, unless a call is required or
        JSON is due) or the answer ends; return the events held so far."""
        held: list[Event] = []
        for event in attempt.events:
            held += shaper.feed(event)
            if shaper.committed or shaper.done:
                break
        if not shaper.committed:
            self._check_answered(attempt)
            held += shaper.finish()
        return shaper, held

    def _rest(self, attempt: Attempt, shaper: Shaper) -> Iterator[Event]:
        """The remainder of a committed answer, shaped; nothing when it was already read."""
        if shaper.finished:
            return
        if not shaper.done:
            for event in attempt.events:
                yield from shaper.feed(event)
                if shaper.done:
                    break
        self._check_answered(attempt)
        yield from shaper.finish()

    @staticmethod
    def _check_answered(attempt: Attempt) -> None:
        if not attempt.upstream.parser.answered:
            raise errors.UpstreamEmpty(
                "chat.qwen.ai ended the answer after thinking, with no reply"
            )

    def _open(
        self,
        conversation: Conversation,
        params: GenerationParams,
        plan: Plan,
        token: str,
        handle: Handle | None,
    ) -> Attempt:
        if self.is_ticket(token):
            return self._open_tongyi(conversation, params, plan, token, handle)
        if handle is not None and handle.token_fp == fingerprint(token):
            text, blobs = self._content(plan, conversation, params, prompt.new_turn(conversation))
            files = self._upload(blobs, token)
            try:
                return self._start(plan, token, handle.chat_id, handle.response_id, text, files)
            except errors.ChatNotFound:
                log.info("continued chat is gone upstream; replaying the history in a new chat")
        text, blobs = self._content(plan, conversation, params)  # checked before any upload
        files = self._upload(blobs, token)  # before a chat is created for them
        return self._start(plan, token, self._new_chat(plan, token), None, text, files)

    def _new_chat(self, plan: Plan, token: str) -> str:
        body = qwen.new_chat_body(plan.model.id, plan.chat_type, self.clock())
        created = self.client.json("POST", "/api/v2/chats/new", token, body)
        chat_id = str(((created or {}).get("data") or {}).get("id") or "")
        if not chat_id:
            raise errors.UpstreamProtocolError("chat.qwen.ai created a chat without an id")
        return chat_id

    def _content(
        self,
        plan: Plan,
        conversation: Conversation,
        params: GenerationParams,
        messages: tuple[Message, ...] | None = None,
    ) -> tuple[str, list[attachments.Blob]]:
        """The message text for ``messages`` (None: all) and the files it carries, loaded and
        checked (size included) before anything is uploaded or created upstream for them."""
        files = plan.files or attachments.RequestFiles(self.fetcher, 0)
        if plan.chat_type in media.DRAWING:
            edit = plan.chat_type == "image_edit"
            blobs = files.select(list(media.edit_sources(conversation)))[0] if edit else []
            text = media.drawing_prompt(conversation)
        else:
            msgs = conversation.messages if messages is None else messages
            blobs, labels = files.select(attachments.media_parts(msgs))
            text = self._prompt(conversation, params, messages, labels)
        prompt.check_size(text, self.settings.max_prompt_kb, ENTRY_BYTES * len(blobs))
        return text, blobs

    def _upload(self, blobs: list[attachments.Blob], token: str) -> list[dict[str, object]]:
        return [self.uploader.entry(blob, token) for blob in blobs]

    def _video(
        self, conversation: Conversation, params: GenerationParams, plan: Plan, token: str
    ) -> Iterator[Event]:
        """A video: the task is started (failures so far may try another token), then polled
        until the video is ready. ``MessageStart.id`` names the chat, the task and the token;
        with ``extra["detach"]`` (``/v1/videos``) the answer ends there and the caller polls
        (the chat is then kept until shutdown: deleting it might end the task)."""
        text, _ = self._content(plan, conversation, params)
        chat_id = self._new_chat(plan, token)
        body = qwen.completion_body(
            text,
            model=plan.model.id,
            chat_id=chat_id,
            parent_id=None,
            chat_type="t2v",
            thinking=plan.thinking,
            thinking_budget=None,
            now=self.clock(),
            size=plan.size,
        )
        self.janitor.acquire(chat_id, token)
        detached = False
        try:
            task = self.videos.start(chat_id, token, body)
            handle = Handle(chat_id, task, fingerprint(token))
            yield MessageStart(str(handle), plan.model.id, prompt.estimate_tokens(text))
            detached = bool(params.extra.get("detach"))
            if not detached:
                yield TextDelta(f"[video]({self.videos.wait(task, token)})")
                yield MessageStop()
        finally:
            if not detached:
                self.janitor.release(chat_id)

    def count_tokens(self, conversation: Conversation, params: GenerationParams) -> int:
        """The estimate the context budget uses, for a dialect's token-counting endpoint."""
        return prompt.estimate_tokens(self._prompt(conversation, params))

    def _prompt(
        self,
        conversation: Conversation,
        params: GenerationParams,
        messages: tuple[Message, ...] | None = None,
        labels: attachments.Labels | None = None,
    ) -> str:
        limit = self.settings.tool_description_chars
        return prompt.build(conversation, params, messages, description_chars=limit, labels=labels)

    def _start(
        self,
        plan: Plan,
        token: str,
        chat_id: str,
        parent_id: str | None,
        text: str,
        files: list[dict[str, object]] | None = None,
    ) -> Attempt:
        """Open the completion and read until its first event, so failures surface here."""
        if self.is_ticket(token):  # a follow-up (the tool engine's nudge) in a Tongyi session
            return self._start_tongyi(plan, token, chat_id, parent_id or "", text)
        self.janitor.acquire(chat_id, token)
        body = qwen.completion_body(
            text,
            model=plan.model.id,
            chat_id=chat_id,
            parent_id=parent_id,
            chat_type=plan.chat_type,
            thinking=plan.thinking,
            thinking_budget=plan.thinking_budget,
            now=self.clock(),
            files=files or (),
            size=plan.size,
        )
        upstream: UpstreamStream | None = None
        try:
            upstream = self.client.stream(
                f"/api/v2/chat/completions?chat_id={chat_id}", token, body, chat_id=chat_id
            )
            events = _started(upstream, "chat.qwen.ai")
            return Attempt(chat_id, upstream, events, prompt.estimate_tokens(text))
        except BaseException:
            if upstream is not None:
                upstream.close()
            self.janitor.release(chat_id)
            raise

    def _open_tongyi(
        self,
        conversation: Conversation,
        params: GenerationParams,
        plan: Plan,
        token: str,
        handle: Handle | None,
    ) -> Attempt:
        """Tongyi creates no chat up front: the first answer opens a session."""
        if plan.chat_type not in ("t2t", "search"):
            raise errors.InvalidRequest("Tongyi tickets can chat and search only", param="model")
        if handle is not None and handle.token_fp == fingerprint(token):
            text = self._tongyi_text(plan, conversation, params, prompt.new_turn(conversation))
            try:
                return self._start_tongyi(plan, token, handle.chat_id, handle.response_id, text)
            except errors.ChatNotFound:
                log.info("continued Tongyi session is gone; replaying the history")
        text = self._tongyi_text(plan, conversation, params, None)
        return self._start_tongyi(plan, token, "", "", text)

    def _tongyi_text(
        self,
        plan: Plan,
        conversation: Conversation,
        params: GenerationParams,
        messages: tuple[Message, ...] | None,
    ) -> str:
        text, blobs = self._content(plan, conversation, params, messages)
        if blobs:
            raise errors.InvalidRequest(
                "Images and files need a chat.qwen.ai token; Tongyi tickets carry text only",
                param="messages",
            )
        return text

    def _start_tongyi(
        self, plan: Plan, token: str, session_id: str, parent_id: str, text: str
    ) -> Attempt:
        body = tongyi.conversation_body(
            text,
            model=plan.model.id,
            session_id=session_id,
            parent_id=parent_id,
            search=plan.chat_type == "search",
        )
        upstream = self.tongyi_client.stream(tongyi.CONVERSATION, token, body)
        try:
            events = _started(upstream, "Tongyi")
        except BaseException:
            upstream.close()
            raise
        session = upstream.parser.session_id or session_id
        self.janitor.acquire(session, token)
        return Attempt(session, upstream, events, prompt.estimate_tokens(text))

    def is_ticket(self, token: str) -> bool:
        """Does this credential go to Tongyi? Only when enabled: any non-JWT credential then."""
        return self.settings.tongyi_tickets and tongyi.is_ticket(token)

    def delete_chat(self, chat_id: str, token: str) -> None:
        """Delete an upstream chat (or Tongyi session) this service created."""
        if self.is_ticket(token):
            self.tongyi_client.json("POST", "/dialog/session/delete", token, {"sessionId": chat_id})
        else:
            self.client.json("DELETE", f"/api/v2/chats/{chat_id}", token, chat_id=chat_id)

    def check_token(self, token: str) -> bool:
        """Does the upstream accept this token (or ticket)? Raise when it cannot tell."""
        try:
            if self.is_ticket(token):
                sessions = self.tongyi_client.json("POST", "/dialog/session/list", token, {})
                return isinstance(sessions, dict) and isinstance(sessions.get("data"), list)
            me = self.client.json("GET", "/api/v1/auths/", token)
        except errors.UpstreamTokenRejected:
            return False
        return isinstance(me, dict) and me.get("role") in ("user", "admin")

    def _close(self, attempt: Attempt) -> None:
        attempt.upstream.close()
        self.janitor.release(attempt.chat_id)

    def _report(self, lease: Lease, err: errors.QwenfreeError, metered: meter.Meter) -> None:
        log.warning("upstream token %s failed: %s (%s)", lease.alias, err.kind, err.message)
        metered.upstream_errors.append(err.kind)
        self.router.report(lease, err)


def _started(upstream: UpstreamStream, site: str) -> Iterator[Event]:
    """The answer's events once its first one arrived, so failures surface before any byte."""
    events = iter(upstream)
    first = next(events, None)
    if first is None:
        raise errors.UpstreamEmpty(
            f"{site} returned an empty answer (the account may be rate limited)"
        )
    return chain([first], events)
