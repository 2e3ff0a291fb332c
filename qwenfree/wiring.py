"""Explicit wiring: every long-lived object of one app, built in one order from the settings.

The order is the dependency order, read top to bottom: telemetry, then one transport per site
(metrics hear each call through the transport's observers, and the request's meter is charged
with wire time through its ``wire`` hook), then operations (caller keys, and in server-account
mode the store and the account pool), the chat janitor, one backend per site, the router that
leases credentials, and the chat service. The one cycle (backends hold the janitor, the janitor
deletes through the backends) is closed by name, with ``janitor.delete_with``.
"""

from __future__ import annotations

from qwenfree import metrics, ops
from qwenfree.chats import ChatJanitor
from qwenfree.service import ChatService
from qwenfree.settings import Settings
from qwenfree.upstream import qwen, tongyi
from qwenfree.upstream.backend import Backends
from qwenfree.upstream.client import UpstreamClient
from qwenfree.upstream.passthrough import ClientTokens
from qwenfree.upstream.qwen_backend import QwenBackend
from qwenfree.upstream.site import Site
from qwenfree.upstream.tongyi_backend import TongyiBackend
from qwenfree.web import State


def build(settings: Settings) -> State:
    """Everything the app holds, for ``create_app`` to store (``web.state()`` reads it)."""
    telemetry = metrics.Metrics(settings.metrics_multiproc_dir)

    def client(site: Site) -> UpstreamClient:
        return UpstreamClient(
            settings, site, observers=[telemetry.upstream_call], wire=metrics.request_wire
        )

    qwen_client = client(qwen.site(settings))
    operations = ops.build(settings, qwen_client, telemetry)  # keys; accounts and store if keyed
    janitor = ChatJanitor(None, settings.chat_ttl)  # deletes through the backends, below
    # One backend per upstream site; the first listed after the default that accepts a
    # credential serves it. A new site is one module and one entry here.
    backends = Backends(
        QwenBackend(
            settings,
            qwen_client,
            janitor,
            operations.models_token,
            warm_report=telemetry.warm_chats,
        ),
        (TongyiBackend(settings, client(tongyi.site(settings)), janitor),),
    )
    janitor.delete_with(backends.delete_chat)
    router = operations.pool or ClientTokens(settings, operations.keeper)
    service = ChatService(settings, backends, router, janitor)
    return State(settings, service, janitor, operations)
