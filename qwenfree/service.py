"""ChatService: one conversation turn against chat.qwen.ai as a stream of neutral events.

It resolves the model and mode, picks a token, creates (or continues) an upstream chat, opens
the completion stream and reads until the first piece of content. Everything that can fail
before that point may be retried on another token; once content has been yielded, failures
propagate to the caller as they are. The first event is ``MessageStart`` whose ``id`` is a
continuation handle ``<chat_id>.<response_id>.<token fingerprint>``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from qwenfree import errors, prompt
from qwenfree.catalog import ModelCatalog, ModelInfo
from qwenfree.chats import ChatJanitor
from qwenfree.conversation import Conversation, GenerationParams
from qwenfree.events import Event, MessageStart, MessageStop
from qwenfree.settings import Settings
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
            raise errors.InvalidRequest(f"The model '{model.id}' cannot think", param="model")
        thinking = bool(thinking) or model.thinking_required
        chat_type = "search" if resolved.search or params.search else "t2t"
        return Plan(model, thinking, params.thinking_budget, chat_type)

    def stream(
        self, conversation: Conversation, params: GenerationParams, tokens: Sequence[str]
    ) -> Iterator[Event]:
        """Yield the events of one answer; retry on another token only before the first."""
        if not tokens:
            raise errors.Unauthorized(
                "Send your chat.qwen.ai token as 'Authorization: Bearer <token>'"
            )
        plan = self.plan(params, tokens[0])
        handle = Handle.parse(params.continuation)
        failure: errors.QwenfreeError | None = None
        for token in self.health.order(tokens):
            answer = self._answer(conversation, plan, token, handle)
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
        self, conversation: Conversation, plan: Plan, token: str, handle: Handle | None
    ) -> Iterator[Event]:
        chat_id, upstream, events, pending = self._open(conversation, plan, token, handle)
        try:
            parser = upstream.parser
            response_id = parser.response_id or parser.created_id or ""
            yield MessageStart(str(Handle(chat_id, response_id, fingerprint(token))), plan.model.id)
            yield from pending
            yield from events
            if not parser.answered:
                raise errors.UpstreamEmpty(
                    "chat.qwen.ai ended the answer after thinking, with no reply"
                )
            if parser.usage is not None:
                yield parser.usage
            yield MessageStop()
        finally:
            upstream.close()
            self.janitor.release(chat_id)

    def _open(
        self, conversation: Conversation, plan: Plan, token: str, handle: Handle | None
    ) -> tuple[str, UpstreamStream, Iterator[Event], list[Event]]:
        if handle is not None and handle.token_fp == fingerprint(token):
            text = prompt.flatten(conversation, prompt.new_turn(conversation))
            try:
                return self._start(plan, token, handle.chat_id, handle.response_id, text)
            except errors.ChatNotFound:
                log.info("continued chat is gone upstream; replaying the history in a new chat")
        body = qwen.new_chat_body(plan.model.id, plan.chat_type, self.clock())
        created = self.client.json("POST", "/api/v2/chats/new", token, body)
        chat_id = str(((created or {}).get("data") or {}).get("id") or "")
        if not chat_id:
            raise errors.UpstreamProtocolError("chat.qwen.ai created a chat without an id")
        return self._start(plan, token, chat_id, None, prompt.flatten(conversation))

    def _start(
        self, plan: Plan, token: str, chat_id: str, parent_id: str | None, text: str
    ) -> tuple[str, UpstreamStream, Iterator[Event], list[Event]]:
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
            return chat_id, upstream, events, [first]
        except BaseException:
            if upstream is not None:
                upstream.close()
            self.janitor.release(chat_id)
            raise

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
