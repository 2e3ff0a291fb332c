"""ChatService: one conversation turn against an upstream site as a stream of neutral events.

The lease/retry loop. The planner (``planning.py``) reads the request once: model, mode, rules,
files, the context check. Then for each credential the router leases, the credential's
``Backend`` (``upstream/backend.py``) opens the answer in a new or continued chat and reads
until its first event: everything that fails before that point may be retried on another
credential; once content has been yielded, failures propagate to the caller as they are.
``shaping.py`` turns the opened answer into events (tool calls, one follow-up for broken output,
usage); ``t2v`` instead starts a video task and polls it (``media.VideoTasks``).

The caller hands in its request's ``Meter``; the service notes the model, the credential, the
tries and the tokens on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from functools import partial

from qwenfree import errors, media, shaping, tokens
from qwenfree.chats import ChatJanitor
from qwenfree.conversation import Conversation, GenerationParams
from qwenfree.events import Event, MessageStart, MessageStop, TextDelta, Usage
from qwenfree.meter import Meter
from qwenfree.planning import Plan, Planner
from qwenfree.settings import Settings
from qwenfree.upstream.accounts import Lease, Router
from qwenfree.upstream.backend import Answer, Backend, Backends
from qwenfree.upstream.turn import Handle

log = logging.getLogger(__name__)


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
        self.planner = Planner(settings, backends, router)
        self.videos = media.VideoTasks(backends, settings)

    def stream(
        self,
        conversation: Conversation,
        params: GenerationParams,
        tokens: Sequence[str],
        metered: Meter | None,
    ) -> Iterator[Event]:
        """Yield the events of one answer; retry on another token only before the first.

        ``tokens`` are the caller's upstream tokens in client-token mode; with server-held
        accounts they are the caller's key to us, never sent on: the ids issued are bound to
        it (``Router.tag``, ``Router.owner``). ``metered``: the
        request's meter (None: not metered), kept here since later events may run elsewhere."""
        metered = metered or Meter("")
        plan = self.planner.plan(conversation, params, tokens)
        metered.model = plan.model.id if plan.model.known else "other"
        owner = self.router.owner(plan.handle, tokens) if plan.handle else None
        failure: errors.QwenfreeError | None = None
        for lease in self.router.leases(tokens, plan.chat_type, owner):
            try:
                metered.attempts += 1
                tag = partial(self.router.tag, lease, tokens)  # what the caller's ids carry
                answer = self._answer(conversation, params, plan, lease, tag, owner == lease.owner)
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
        plan: Plan,
        lease: Lease,
        tag: Callable[[str, str], str],
        ours: bool,
    ) -> Iterator[Event]:
        """``ours``: the caller's handle names this credential (``Router.owner``)."""
        backend = self.backends.for_credential(lease.token)
        if plan.chat_type == "t2v":
            yield from self._video(backend, conversation, params, plan, lease, tag)
            return
        opened = self._open(backend, conversation, plan, lease.token, ours)
        yield from shaping.shaped(backend, opened, plan.rules, plan.model.id, tag)

    def _open(
        self, backend: Backend, conversation: Conversation, plan: Plan, token: str, ours: bool
    ) -> Answer:
        """Continue the caller's chat when it is this credential's (``ours``), else (or when it
        is gone upstream) send the whole history in a new one."""
        if plan.handle is not None and ours:
            try:
                turn = self.planner.turn(backend, plan, conversation, continuing=True)
                return backend.open(turn, token)
            except errors.ChatNotFound:
                log.info("continued chat is gone upstream; replaying the history in a new chat")
        # The whole history: checked (size included) before anything is created upstream.
        return backend.open(self.planner.turn(backend, plan, conversation), token)

    def _video(
        self,
        backend: Backend,
        conversation: Conversation,
        params: GenerationParams,
        plan: Plan,
        lease: Lease,
        tag: Callable[[str, str], str],
    ) -> Iterator[Event]:
        """A video: the task is started (failures so far may try another token), then polled
        until the video is ready. ``MessageStart.id`` names the chat, the task and the tag;
        with ``extra["detach"]`` (``/v1/videos``) the answer ends there and the caller polls
        (the chat is then kept until shutdown: deleting it might end the task)."""
        turn = self.planner.turn(backend, plan, conversation)
        job = backend.start_video(turn, lease.token)  # holds the chat in the janitor
        detached = False
        try:
            handle = Handle(job.chat_id, job.task_id, tag(job.chat_id, job.task_id))
            yield MessageStart(str(handle), plan.model.id, tokens.estimate(turn.text))
            detached = bool(params.extra.get("detach"))
            if not detached:
                yield TextDelta(f"[video]({self.videos.wait(backend, job.task_id, lease.token)})")
                yield MessageStop()
        finally:
            if not detached:
                self.janitor.release(job.chat_id)

    def count_tokens(self, conversation: Conversation, params: GenerationParams) -> int:
        """The whole prompt's tokens as the context check counts them."""
        return self.planner.count_tokens(conversation, params)

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

    def _report(self, lease: Lease, err: errors.QwenfreeError, metered: Meter) -> None:
        log.warning("upstream token %s failed: %s (%s)", lease.alias, err.kind, err.message)
        metered.upstream_errors.append(err.kind)
        self.router.report(lease, err)
