"""Warm chats (upstream/warm_chats.py): leased once, refilled by demand, deleted by the TTL rule,
never shared between credentials; through the gateway: a request skips ``chats/new``."""

from __future__ import annotations

import dataclasses
import itertools

import requests

from qwenfree import errors
from qwenfree.chats import ChatJanitor
from qwenfree.upstream.warm_chats import WarmChats
from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support.waiting import wait_until

NEW_CHAT = "/api/v2/chats/new"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Site:
    """What the pool is given: a chat creator (and the janitor's deleter), recording calls."""

    def __init__(self) -> None:
        self.ids = (f"chat-{n}" for n in itertools.count(1))
        self.created: list[tuple[str, str, str, str]] = []  # (id, token, model, chat type)
        self.deleted: list[str] = []
        self.failing = False

    def create(self, token: str, model: str, chat_type: str) -> str:
        if self.failing:
            raise errors.UpstreamUnavailable("chats/new failed")
        chat_id = next(self.ids)
        self.created.append((chat_id, token, model, chat_type))
        return chat_id

    def delete(self, chat_id: str, token: str) -> None:
        self.deleted.append(chat_id)


def pool(site: Site, clock: Clock, ttl: float = 600.0, **kw) -> WarmChats:
    janitor = ChatJanitor(site.delete, ttl, clock=clock)
    janitor._ensure_thread = lambda: None  # sweeps run when the test calls them
    kw.setdefault("per_key", 2)
    return WarmChats(site.create, janitor, chat_ttl=ttl, clock=clock, spawn=lambda f: f(), **kw)


def use(warm: WarmChats, token: str, model: str, chat_type: str) -> str | None:
    """What the backend does for a new chat: lease, then refill once the answer started."""
    chat_id = warm.lease(token, model, chat_type)
    warm.refill(token, model, chat_type)
    return chat_id


def test_the_first_request_creates_its_own_chat_the_next_leases_one_made_ahead():
    site, clock = Site(), Clock()
    warm = pool(site, clock)
    assert warm.lease("A", "m", "t2t") is None  # nothing ready: the caller creates one
    warm.refill("A", "m", "t2t")  # once its answer started
    assert [c[0] for c in site.created] == ["chat-1"]  # made for the next request
    assert use(warm, "A", "m", "t2t") == "chat-1"
    assert use(warm, "A", "m", "t2t") == "chat-2"  # each chat is leased once


def test_the_pool_follows_recent_demand_up_to_its_size_and_empties_for_idle_keys():
    site, clock = Site(), Clock()
    warm = pool(site, clock, window=300)
    for _ in range(5):
        use(warm, "A", "m", "t2t")
        clock.now += 1
    assert warm.ready() == 2  # five uses lately, at most two ready
    clock.now += 301  # nobody asked for five minutes
    assert use(warm, "A", "m", "t2t") is not None
    assert warm.ready() == 1  # one use in the window now: one ready
    clock.now += 400
    warm.sweep()
    assert use(warm, "B", "other", "t2t") is None
    assert warm.ready() == 1 and all(c[1] in ("A", "B") for c in site.created)


def test_a_ready_chat_idle_for_the_ttl_is_deleted_not_leased():
    site, clock = Site(), Clock()
    warm = pool(site, clock, ttl=60)
    use(warm, "A", "m", "t2t")
    clock.now += 61
    warm._janitor.sweep()  # the janitor's sweep runs the pool's
    assert wait_until(lambda: site.deleted == ["chat-1"])
    assert use(warm, "A", "m", "t2t") is None


def test_a_leased_chat_is_deleted_after_its_answer_by_the_usual_rule():
    site, clock = Site(), Clock()
    warm = pool(site, clock, ttl=60)
    janitor = warm._janitor
    use(warm, "A", "m", "t2t")
    chat_id = use(warm, "A", "m", "t2t")
    janitor.acquire(chat_id, "A")  # what the backend does: the answer holds the chat
    janitor.release(chat_id)  # ... and the pool's hold is handed over
    clock.now += 30
    janitor.sweep()
    assert chat_id not in site.deleted  # still streaming
    janitor.release(chat_id)  # the answer ended
    clock.now += 61
    janitor.sweep()
    assert chat_id in site.deleted
    assert wait_until(lambda: "chat-2" in site.deleted)  # the unleased one expired meanwhile


def test_credentials_never_share_chats():
    site, clock = Site(), Clock()
    warm = pool(site, clock)
    use(warm, "A", "m", "t2t")
    assert use(warm, "B", "m", "t2t") is None
    assert use(warm, "A", "m", "t2i") is None  # nor do chat types
    leased = use(warm, "B", "m", "t2t")
    assert ("B", "m", "t2t") == next(c[1:] for c in site.created if c[0] == leased)


def test_a_failed_refill_waits_before_trying_again():
    site, clock = Site(), Clock()
    warm = pool(site, clock, backoff=30)
    site.failing = True
    use(warm, "A", "m", "t2t")
    site.failing = False
    use(warm, "A", "m", "t2t")
    assert site.created == []  # backing off
    clock.now += 31
    use(warm, "A", "m", "t2t")
    assert len(site.created) == 2


def test_off_when_chats_are_deleted_at_once_or_when_asked():
    site, clock = Site(), Clock()
    assert use(pool(site, clock, ttl=0), "A", "m", "t2t") is None
    assert use(pool(site, clock, per_key=0), "A", "m", "t2t") is None
    assert site.created == []


def test_the_worker_total_is_bounded():
    site, clock = Site(), Clock()
    warm = pool(site, clock, total=3)
    for model in "abcde":
        use(warm, "A", model, "t2t")
    assert warm.ready() == 3


# ------------------------------------------------------------------------- through the gateway


def chat(url: str, token: str = TOKEN) -> requests.Response:
    body = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": "Bearer " + token}
    return requests.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=20)


def new_chats(fake) -> list:
    return [r for r in list(fake.requests) if r.path == NEW_CHAT]


def warm_gateway(start_gateway, settings):
    return start_gateway(dataclasses.replace(settings, warm_chats=2))


def test_the_second_request_skips_chats_new(start_gateway, settings, fake):
    gateway = warm_gateway(start_gateway, settings)
    assert chat(gateway.url).status_code == 200
    assert fake.wait_until(lambda: len(new_chats(fake)) == 2)  # the refill
    before = len(fake.requests)
    assert chat(gateway.url).status_code == 200
    during = [r.path for r in list(fake.requests)[before:]]
    assert during[0] != NEW_CHAT  # the completion went first, in the chat made ahead
    assert fake.last_completion().query["chat_id"] in fake.chats
    m = requests.get(gateway.url + "/metrics", timeout=10).text
    assert 'qwenfree_warm_chat_leases_total{result="hit"} 1.0' in m
    assert 'qwenfree_warm_chat_leases_total{result="miss"} 1.0' in m
    assert "qwenfree_warm_chats " in m


def test_a_busy_chat_is_traded_for_another(start_gateway, settings, fake):
    gateway = warm_gateway(start_gateway, settings)
    assert chat(gateway.url).status_code == 200
    assert fake.wait_until(lambda: len(new_chats(fake)) == 2)
    fake.enqueue(fu.business_error("Bad_Request", "The chat is in progress!"))
    r = chat(gateway.url)
    assert r.status_code == 200, r.text
    busy, served = fake.completions()[-2:]
    assert busy.query["chat_id"] != served.query["chat_id"]


def test_accounts_never_get_each_others_chats(start_gateway, settings, fake):
    gateway = warm_gateway(start_gateway, settings)
    other = "test-token-0002"
    assert chat(gateway.url).status_code == 200
    assert fake.wait_until(lambda: len(new_chats(fake)) == 2)  # TOKEN's warm chat is ready
    assert chat(gateway.url, other).status_code == 200
    assert fake.wait_until(lambda: len(new_chats(fake)) == 4)  # other's own, and its refill
    completion = fake.last_completion()
    assert completion.headers["authorization"] == "Bearer " + other
    # two creations can run at once, so the fake records who created each chat
    assert fake.chats[completion.query["chat_id"]].creator == "Bearer " + other


def test_shutdown_deletes_the_chats_still_waiting(start_gateway, settings, fake):
    gateway = start_gateway(dataclasses.replace(settings, warm_chats=2, chat_ttl=600))
    assert chat(gateway.url).status_code == 200
    assert fake.wait_until(lambda: len(new_chats(fake)) == 2)
    waiting = list(fake.chats)[-1]
    gateway.state.close()
    # A refill still in flight at close deletes its chat when its answer lands: wait for it.
    assert fake.wait_until(lambda: waiting in fake.deleted_chats)
    assert fake.wait_until(lambda: len(fake.deleted_chats) == 2)  # and the answered one
