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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain

from qwenfree import errors, prompt
from qwenfree.catalog import ModelCatalog, ModelInfo
from qwenfree.chats import ChatJanitor
from qwenfree.conversation import Conversation, GenerationParams, Message
from qwenfree.events import Event, MessageStart, MessageStop
from qwenfree.settings import Settings
from qwenfree.tools.engine import OutputRules, Shaper
from qwenfree.upstream import qwen
from qwenfree.upstream.accounts import TokenHealth, fingerprint, mask
from qwenfree.upstream.client import UpstreamClient, UpstreamStream

log = logging.getLogger(__name__)
HANDLE_PREFIXES = ("chatcmpl-", "msg_", "resp_")


@dataclass(frozen=True, slots=True)
class Plan:
    model: ModelInfo
    thinking: bool
    thinking_budget: int | None
    chat_type: str


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
        health: TokenHealth,
        janitor: ChatJanitor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.client = client
        self.catalog = catalog
        self.health = health
        self.janitor = janitor
        self.clock = clock

    def plan(self, params: GenerationParams, token: str | None) -> Plan:
        """Decide model, thinking and chat type; raise on what cannot work."""
        resolved = self.catalog.resolve(params.model, token)
        model = resolved.model
        thinking = resolved.thinking if resolved.thinking is not None else params.thinking
        if thinking and not model.thinking and model.known:
            if not params.thinking_optional:
                raise errors.InvalidRequest(f"The model '{model.id}' cannot think", param="model")
            thinking = False
        thinking = bool(thinking) or model.thinking_required
        chat_type = "search" if resolved.search or params.search else "t2t"
        return Plan(model, thinking, params.thinking_budget, chat_type)

    def stream(
        self, conversation: Conversation, params: GenerationParams, tokens: Sequence[str]
    ) -> Iterator[Event]:
        """Yield the events of one answer; retry on another token only before the first."""
        if not tokens:
            raise errors.Unauthorized(
                "Send your chat.qwen.ai token as the API key "
                "('Authorization: Bearer <token>' or 'x-api-key: <token>')"
            )
        rules = OutputRules.of(conversation, params)
        plan = self.plan(params, tokens[0])
        handle = Handle.parse(params.continuation)
        failure: errors.QwenfreeError | None = None
        for token in self.health.order(tokens):
            answer = self._answer(conversation, params, rules, plan, token, handle)
            try:
                first = next(answer)
            except errors.QwenfreeError as err:
                self._report(token, err)
                if not err.retryable:
                    raise
                failure = err
                continue
            try:
                yield first
                yield from answer
            except errors.QwenfreeError as err:
                self._report(token, err)
                raise
            finally:
                answer.close()
            self.health.recover(token)
            return
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
        if handle is not None and handle.token_fp == fingerprint(token):
            text = self._prompt(conversation, params, prompt.new_turn(conversation))
            prompt.check_size(text, self.settings.max_prompt_kb)
            try:
                return self._start(plan, token, handle.chat_id, handle.response_id, text)
            except errors.ChatNotFound:
                log.info("continued chat is gone upstream; replaying the history in a new chat")
        text = self._prompt(conversation, params)
        prompt.check_size(text, self.settings.max_prompt_kb)  # before a chat is created for it
        body = qwen.new_chat_body(plan.model.id, plan.chat_type, self.clock())
        created = self.client.json("POST", "/api/v2/chats/new", token, body)
        chat_id = str(((created or {}).get("data") or {}).get("id") or "")
        if not chat_id:
            raise errors.UpstreamProtocolError("chat.qwen.ai created a chat without an id")
        return self._start(plan, token, chat_id, None, text)

    def count_tokens(self, conversation: Conversation, params: GenerationParams) -> int:
        """The estimate the context budget uses, for a dialect's token-counting endpoint."""
        return prompt.estimate_tokens(self._prompt(conversation, params))

    def _prompt(
        self,
        conversation: Conversation,
        params: GenerationParams,
        messages: tuple[Message, ...] | None = None,
    ) -> str:
        limit = self.settings.tool_description_chars
        return prompt.build(conversation, params, messages, description_chars=limit)

    def _start(
        self, plan: Plan, token: str, chat_id: str, parent_id: str | None, text: str
    ) -> Attempt:
        """Open the completion and read until its first event, so failures surface here."""
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
        )
        upstream: UpstreamStream | None = None
        try:
            upstream = self.client.stream(
                f"/api/v2/chat/completions?chat_id={chat_id}", token, body
            )
            events = iter(upstream)
            first = next(events, None)
            if first is None:
                raise errors.UpstreamEmpty(
                    "chat.qwen.ai returned an empty answer (the account may be rate limited)"
                )
            return Attempt(chat_id, upstream, chain([first], events), prompt.estimate_tokens(text))
        except BaseException:
            if upstream is not None:
                upstream.close()
            self.janitor.release(chat_id)
            raise

    def _close(self, attempt: Attempt) -> None:
        attempt.upstream.close()
        self.janitor.release(attempt.chat_id)

    def _report(self, token: str, err: errors.QwenfreeError) -> None:
        s = self.settings
        log.warning("upstream token %s failed: %s (%s)", mask(token), err.kind, err.message)
        if isinstance(err, errors.UpstreamRateLimited):
            self.health.cool(token, err.retry_after or s.cooldown_rate_limited, hard=True)
        elif isinstance(err, errors.UpstreamTokenRejected):
            self.health.cool(token, s.cooldown_rejected, hard=True)
        elif isinstance(err, errors.UpstreamChallenged):
            self.health.cool(token, s.cooldown_challenged, hard=True)
        elif isinstance(err, errors.UpstreamUnavailable):
            self.health.cool(token, s.cooldown_failure, hard=False)
