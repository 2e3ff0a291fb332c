"""Switching chat.qwen.ai's own tools off per account (upstream-chat-qwen-ai.md §16.6).

The web chat has built-in tools (web extractor, search, image tools, a code interpreter, …)
that can fire on a prompt describing the caller's tools and answer in their place. A peer (S5)
switches them off once per account with ``POST /api/v2/users/user/settings/update``
``{"tools_enabled": {<each>: false}}``; so do we, before a request as ``Settings.
native_tools_off`` says (``tools``: one carrying the caller's own tools; ``always``; ``never``).

Once per access token: the first request of an account, and again after each sign-in or
refresh (at most one small request per account per access-token life, 15 minutes on the 2026
site), which also re-applies the switch should the site have reset it. A failure is logged and
not retried for that token: the answer does not depend on it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from qwenfree import errors
from qwenfree.upstream.accounts import digest
from qwenfree.upstream.client import UpstreamClient

SETTINGS_UPDATE = "/api/v2/users/user/settings/update"
TOOLS = (
    "web_extractor",
    "web_search",
    "image_gen_tool",
    "code_interpreter",
    "history_retriever",
    "image_edit_tool",
    "bio",
    "image_zoom_in_tool",
)
MODES = ("tools", "always", "never")
REMEMBERED = 4096  # tokens remembered per worker (least recently switched out)
log = logging.getLogger(__name__)


class NativeTools:
    def __init__(self, client: UpstreamClient, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"QWENFREE_NATIVE_TOOLS_OFF must be one of {', '.join(MODES)}")
        self.client = client
        self.mode = mode
        self._lock = threading.Lock()
        self._done: OrderedDict[str, None] = OrderedDict()

    def before(self, token: str, caller_tools: bool) -> None:
        """Switch the account's tools off if this request calls for it and this token has not."""
        if self.mode == "never" or (self.mode == "tools" and not caller_tools):
            return
        key = digest(token)
        with self._lock:
            if key in self._done:
                return
            self._done[key] = None
            while len(self._done) > REMEMBERED:
                self._done.popitem(last=False)
        body = {"tools_enabled": dict.fromkeys(TOOLS, False)}
        try:
            self.client.json("POST", SETTINGS_UPDATE, token, body)
        except errors.QwenfreeError as err:
            log.warning(
                "could not switch %s's own tools off (%s); answering anyway",
                self.client.site.name,
                err.kind,
            )
