"""Continuation ids in key mode (server-held accounts) are bound to the caller's key: another
key holding the same id starts afresh, a made-up id cannot pin an account, and a video started
with one key cannot be polled with another. Pass-through ids still name the credential."""

from __future__ import annotations

import uuid

import pytest
import requests

from qwenfree.store import open_store
from qwenfree.upstream.accounts import fingerprint
from qwenfree.upstream.pool import handle_secret
from tests.conftest import TOKEN
from tests.support.accounts import OTHER_KEY, USER, USER_KEY, chat, keyed, tokens, used_tokens

pytestmark = pytest.mark.timeout(60)
OTHER = {"Authorization": "Bearer " + OTHER_KEY}
HISTORY = [
    {"role": "user", "content": "My name is Ana."},
    {"role": "assistant", "content": "Hello Ana"},
    {"role": "user", "content": "What is my name?"},
]


@pytest.fixture
def keyed_gateway(start_gateway, settings, tmp_path):
    def start(accounts: list[str]):
        return start_gateway(keyed(settings, tmp_path / "data", accounts=",".join(accounts)))

    return start


def new_chats(fake) -> int:
    return sum(r.path == "/api/v2/chats/new" for r in fake.requests)


def test_the_id_continues_the_chat_for_the_key_that_got_it(keyed_gateway, fake):
    gateway = keyed_gateway(tokens(2))
    first = chat(gateway.url, messages=HISTORY[:1])
    assert first.status_code == 200, first.text
    again = chat(gateway.url, USER, messages=HISTORY, conversation_id=first.json()["id"])
    assert again.status_code == 200, again.text
    one, two = fake.completions()
    assert two.query["chat_id"] == one.query["chat_id"] and new_chats(fake) == 1
    assert two.json["messages"][0]["content"] == "What is my name?"  # only the new turn


def test_the_tag_needs_this_installations_secret(tmp_path):
    """The tag mixes a random secret kept in the state store with the account's credential, so
    a caller who holds a tag cannot test guesses of a weak account password offline; every
    worker and restart of one installation reads the same secret."""
    one, two = (open_store("", str(tmp_path / name)) for name in ("one", "two"))
    try:
        first = handle_secret(one, 0.0)
        assert len(first) == 64 and handle_secret(one, 1.0) == first
        assert handle_secret(two, 0.0) != first
    finally:
        one.close()
        two.close()
    again = open_store("", str(tmp_path / "one"))
    try:
        assert handle_secret(again, 2.0) == first
    finally:
        again.close()


def test_a_restart_keeps_the_ids_it_issued(start_gateway, settings, tmp_path, fake):
    s = keyed(settings, tmp_path / "data", accounts="demo@example.com:demo-password")
    first = chat(start_gateway(s).url, messages=HISTORY[:1])
    assert first.status_code == 200, first.text
    later = start_gateway(s)  # same store: same secret
    again = chat(later.url, USER, messages=HISTORY, conversation_id=first.json()["id"])
    assert again.status_code == 200, again.text
    one, two = fake.completions()
    assert two.query["chat_id"] == one.query["chat_id"]


def test_another_key_with_the_same_id_starts_a_fresh_chat(keyed_gateway, fake):
    gateway = keyed_gateway(tokens(1))
    first = chat(gateway.url, messages=HISTORY[:1])
    theirs = fake.last_completion().query["chat_id"]
    assert fingerprint(tokens(1)[0]) not in first.json()["id"]  # no account is named
    seen = len(fake.requests)
    stolen = chat(gateway.url, OTHER, messages=HISTORY, conversation_id=first.json()["id"])
    assert stolen.status_code == 200, stolen.text
    last = fake.last_completion()
    assert new_chats(fake) == 2 and last.query["chat_id"] != theirs
    assert last.json["parent_id"] is None
    assert "My name is Ana." in last.json["messages"][0]["content"]  # the whole history
    assert all(theirs not in r.path + str(r.query) for r in fake.requests[seen:])


def test_a_made_up_id_naming_an_account_does_not_pin_it(keyed_gateway, fake):
    a, b = tokens(2)
    gateway = keyed_gateway([a, b])
    made_up = f"chatcmpl-{uuid.uuid4()}.{uuid.uuid4()}.{fingerprint(b)}"
    r = chat(gateway.url, messages=HISTORY, conversation_id=made_up)
    assert r.status_code == 200, r.text
    assert used_tokens(fake) == [a]  # routing as for a new chat: the first account


def test_another_key_cannot_poll_a_video(keyed_gateway, fake):
    fake.task_polls = 5
    gateway = keyed_gateway(tokens(1))
    made = requests.post(gateway.url + "/v1/videos", json={"prompt": "a cat"}, headers=USER)
    assert made.status_code == 200, made.text
    video = made.json()["id"]
    seen = len(fake.requests)
    other = requests.get(f"{gateway.url}/v1/videos/{video}", headers=OTHER)
    assert other.status_code == 404, other.text
    assert len(fake.requests) == seen  # nothing was asked upstream
    mine = requests.get(f"{gateway.url}/v1/videos/{video}", headers=USER)
    assert mine.status_code == 200 and mine.json()["status"] == "in_progress", mine.text
    assert USER_KEY not in video


def test_pass_through_ids_still_name_the_credential(gateway, fake):
    r = chat(gateway.url, {"Authorization": "Bearer " + TOKEN})
    assert r.status_code == 200, r.text
    assert r.json()["id"].endswith("." + fingerprint(TOKEN))  # unchanged: no key to bind to
