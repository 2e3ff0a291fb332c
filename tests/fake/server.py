"""The fake chat.qwen.ai: state, scripting, and the order in which a request is judged."""

from __future__ import annotations

import functools
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

from . import site
from .auth import AuthMixin
from .chats import ChatMixin
from .frames import COMPLETIONS, DEFAULT_TEXT, Script
from .http import _Handler, _Server
from .media import MediaMixin
from .scripts import _json, waf_html
from .state import Chat, Recorded, StoredFile, VideoTask, _Reply, default_models

_ROUTES: list[tuple[str, re.Pattern[str], str, bool]] = [
    (m, re.compile(p), name, auth)
    for m, p, name, auth in [
        ("GET", r"/api/models|/api/v2/models/?", "_models", False),
        ("POST", r"/api/v1/auths/signin", "_signin", False),
        ("POST", r"/api/v2/auths/signin", "_signin_v2", False),
        ("GET", site.REFRESH, "_refresh", False),
        ("GET", r"/api/v1/auths/?", "_me", True),
        ("POST", r"/api/v2/chats/new", "_new_chat", True),
        ("POST", COMPLETIONS, "_completion", True),
        ("GET", r"/api/v2/chats/?", "_list_chats", True),
        ("GET", r"/api/v2/chats/(?P<cid>[^/]+)", "_get_chat", True),
        ("DELETE", r"/api/v2/chats/(?P<cid>[^/]+)", "_delete_chat", True),
        ("GET", r"/output/.+", "_image", False),
        ("POST", r"/api/(?P<v>v[12])/files/getstsToken", "_sts", True),
        ("PUT", r"/oss/(?P<bucket>[^/]+)/(?P<key>.+)", "_oss_put", False),
        ("POST", r"/api/v2/files/parse", "_parse", True),
        ("POST", r"/api/v2/files/parse/status", "_parse_status", True),
        ("GET", r"/api/v1/tasks/status/(?P<tid>[^/]+)", "_task_status", True),
        ("GET", r"/api/v2/task/status/(?P<tid>[^/]+)", "_task_status_v2", True),
        ("POST", r"/api/v2/users/user/settings/update", "_settings_update", True),
    ]
]
# Endpoints only the 2026-09 site has; in legacy mode they answer 404 as they always did.
NEW_ENDPOINTS = frozenset({"_signin_v2", "_refresh", "_task_status_v2", "_settings_update"})
RECENT_IDS = 4096  # X-Request-Id values remembered for the repeat check


class FakeUpstream(AuthMixin, ChatMixin, MediaMixin):
    """The fake server plus everything tests inspect or tweak (public attributes are plain data)."""

    ROUTES = _ROUTES

    def __init__(self, host: str = "127.0.0.1", port: int = 0, mode: str | None = None) -> None:
        self._lock = threading.Lock()
        self._server = _Server((host, port), _Handler)
        self._server.fake = self
        self._thread: threading.Thread | None = None
        self._release = threading.Event()
        self._gen = 0
        self.active_streams = 0
        # What reset() restores: the mode this fake was made with, else site.DEFAULT_MODE.
        self.default_mode = mode or site.DEFAULT_MODE
        self._set_defaults()

    def _set_defaults(self) -> None:
        self.requests: list[Recorded] = []
        self.chats: dict[str, Chat] = {}
        self.deleted_chats: list[str] = []
        self.disconnects = 0
        self.finished_streams = 0
        self.valid_tokens: set[str] | None = None
        self.accounts: dict[str, str] = {"demo@example.com": "demo-password"}
        self.default_text = DEFAULT_TEXT
        # Completion bodies larger than this (bytes) get the anti-bot punish JSON, as the real
        # WAF answers bodies above ~128 KB; None = no limit.
        self.max_body: int | None = None
        self._queues: dict[str, deque[Script]] = {}
        self._emails: dict[str, str] = {}
        # Uploads (§6.5): files by id. Document parsing answers "pending" parse_pending times,
        # then parse_outcome. getstsToken answers flat on v1 and wrapped on v2 unless changed.
        self.files: dict[str, StoredFile] = {}
        self.parse_pending = 1
        self.parse_outcome = "success"
        self.sts_shapes = {"v1": "flat", "v2": "wrapped"}
        # Video tasks (§9.3, §16.5): "running" for task_polls status checks, then task_outcome,
        # any string ("success", "failed", a renamed status...); "empty" = success without a URL.
        self.tasks: dict[str, VideoTask] = {}
        self.task_polls = 1
        self.task_outcome = "success"
        # 2026-09 (§16): see tests/fake/README.md.
        self.origin: str | None = None  # None: http://<the request's Host header>
        self.punished: list[tuple[str, str]] = []
        self._recent_ids: OrderedDict[str, None] = OrderedDict()
        self.clock: Callable[[], float] = time.time
        self._skew = 0.0
        self.access_ttl = 900
        self.signin_ttl: int | None = None  # None: access_ttl
        self.refresh_ttl = 300 * 86400
        self.rotate_refresh = False
        self.rotate_grace = 5.0
        self.refresh_tokens: dict[str, Any] = {}
        self.refresh_calls = 0
        self.signin_window = 10.0
        self.signin_limit_page: Script = waf_html(200)
        self._signins: deque[float] = deque()
        self.cookies_set: dict[str, dict[str, str]] = {}
        self.cookies_seen: dict[str, set[str]] = {}
        self.require_cookies = False
        self.tools_enabled: dict[str, Any] = {}
        self.mode = self.default_mode

    # -- mode and clock

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        """Switch dialect; resets what depends on it (models, v1 sign-in, sign-in limit)."""
        if mode not in site.MODES:
            raise ValueError(f"mode must be one of {site.MODES}, not {mode!r}")
        self._mode = mode
        self.models: list[dict[str, Any]] = default_models(mode)
        legacy = mode == site.LEGACY
        self.v1_signin = legacy
        self.v2_signin = not legacy
        self.signin_limit: int | None = None if legacy else 3

    @property
    def modern(self) -> bool:
        return self._mode != site.LEGACY

    def now(self) -> float:
        """The fake's time: ``clock()`` plus everything ``advance()`` added."""
        return self.clock() + self._skew

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (token expiry, refresh grace, sign-in window)."""
        self._skew += seconds

    # -- lifecycle

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]!s}:{self._server.server_port}"

    def start(self) -> FakeUpstream:
        """Serve in a daemon thread; return self."""
        # A short poll interval keeps stop() (and so every test teardown) fast.
        serve = functools.partial(self._server.serve_forever, poll_interval=0.02)
        self._thread = threading.Thread(target=serve, name="fake-upstream", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release stalled handlers and shut the server down."""
        self._release.set()
        if self._thread:
            self._server.shutdown()
            self._thread.join(5)
            self._thread = None
        self._server.server_close()

    def reset(self) -> None:
        """Forget queues, requests, chats, counters; restore defaults (and default_mode)."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()
            self._gen += 1
            self._set_defaults()

    def __enter__(self) -> FakeUpstream:
        return self if self._thread else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting and inspection

    def enqueue(self, *scripts: Script, path: str = COMPLETIONS) -> None:
        """Queue scripts (FIFO); for another ``path`` a script replaces its reply, before auth."""
        with self._lock:
            self._queues.setdefault(path, deque()).extend(scripts)

    def enqueue_for(self, token: str, *scripts: Script) -> None:
        """Queue completion scripts for one bearer token; they play before the shared queue."""
        self.enqueue(*scripts, path="token:" + token)

    def _pop(self, path: str) -> Script | None:
        with self._lock:
            queue = self._queues.get(path)
            return queue.popleft() if queue else None

    def completions(self) -> list[Recorded]:
        """Recorded POSTs to /api/v2/chat/completions."""
        return [r for r in list(self.requests) if r.method == "POST" and r.path == COMPLETIONS]

    def last_completion(self) -> Recorded:
        """The latest recorded completion request (AssertionError if none)."""
        found = self.completions()
        assert found, "the fake upstream received no completion request"
        return found[-1]

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Poll predicate until true or timeout; return its last value."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def _stream_started(self) -> None:
        with self._lock:
            self.active_streams += 1

    def _stream_ended(self, gen: int, outcome: str) -> None:
        with self._lock:
            self.active_streams -= 1
            if gen == self._gen:  # a stream cut by reset() must not count against the next test
                self.disconnects += outcome == "disconnect"
                self.finished_streams += outcome == "finished"

    # -- judging a request

    def _answer(self, req: Recorded) -> _Reply:
        """The reply to one request, in the current mode's wire shape."""
        if not self.modern or not req.path.startswith("/api/"):
            return self._route(req)
        if req.path != site.REFRESH:  # auth.qwen.ai has its own rules (see _refresh)
            problems = self._gate(req)
            if problems:
                with self._lock:
                    self.punished.append((req.path, "; ".join(problems)))
                return site.punish()
        self._note_cookies(req)
        reply = self._route(req)
        script, ctx = reply if isinstance(reply, tuple) else (reply, None)
        script = site.dress(script, self._cookies_for(req))
        return (script, ctx) if ctx is not None else script

    def _gate(self, req: Recorded) -> list[str]:
        origin = self.origin or "http://" + req.headers.get("host", "")
        problems = site.gate_problems(req, origin, self._fresh_id)
        return problems + self._jar_problems(req)

    def _fresh_id(self, request_id: str) -> bool:
        with self._lock:
            if request_id in self._recent_ids:
                return False
            self._recent_ids[request_id] = None
            while len(self._recent_ids) > RECENT_IDS:
                self._recent_ids.popitem(last=False)
            return True

    def _route(self, req: Recorded) -> _Reply:
        override = self._pop(req.path) if req.path != COMPLETIONS else None
        if override is not None:
            return override
        wrong_method = False
        for method, pattern, name, needs_auth in self.ROUTES:
            match = pattern.fullmatch(req.path)
            if match is None or (name in NEW_ENDPOINTS and not self.modern):
                continue
            if method != req.method:
                wrong_method = True
                continue
            if self.modern and req.path.startswith("/api/"):
                if site.needs_version(req) and not req.headers.get("version"):
                    return _json(200, site.envelope("Bad_Request", "Invalid request"))
                if needs_auth and (problem := self._token_problem(self._token(req))):
                    return site.site_error(401, "Unauthorized", problem)
            elif needs_auth and not self._token_ok(self._token(req)):
                return _json(401, {"detail": "Could not validate credentials"})
            endpoint: Callable[[Recorded, re.Match[str]], _Reply] = getattr(self, name)
            return endpoint(req, match)
        if self.modern and req.path.startswith("/api/"):
            if wrong_method:
                return site.site_error(405, "Method_Not_Allowed", "Method Not Allowed")
            return site.site_error(404, "Not_Found", "Not Found")
        return (
            _json(405, {"detail": "Method Not Allowed"})
            if wrong_method
            else _json(404, {"detail": "Not Found"})
        )

    def _not_found(self) -> Script:
        """An endpoint the current mode's site no longer has."""
        if self.modern:
            return site.site_error(404, "Not_Found", "Not Found")
        return _json(404, {"detail": "Not Found"})
