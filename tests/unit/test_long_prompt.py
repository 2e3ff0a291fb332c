"""Long conversations travel partly as attached text files (issue 18; qwenfree/long_prompt.py).

The fake's WAF punishes completion bodies above the safe size, and the fake model answers
"What is the codeword?" only from what it can read: the message text and its parsed text
attachments (tests/fake/README.md "Attached text files").
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import requests

from qwenfree import long_prompt, prompt
from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support import sse
from tests.support.recorded import captured

SAFE = 120 * 1024  # Settings.max_prompt_kb's default, in bytes
CODEWORD = "PAPAYA-42"
QUESTION = "What is the codeword?"


@pytest.fixture
def gateway(start_gateway, settings):
    return start_gateway(dataclasses.replace(settings, poll_interval=0.02))  # parse polls


def claude_code_conversation(target: int, codeword: str = CODEWORD) -> dict:
    """The captured Claude Code request (system prompt, 24 tools) with a history of file reads
    growing to about ``target`` bytes; the codeword is told only in the first turn."""
    body, _ = captured(1)
    messages: list[dict] = [
        {"role": "user", "content": f"Remember this: the codeword is {codeword}."},
        {"role": "assistant", "content": [{"type": "text", "text": "Noted."}]},
    ]
    n = 0
    while len(json.dumps(body | {"messages": messages})) < target:
        n += 1
        lines = "".join(f"{i:6}\tline {i} of module_{n}.py: value = {i * n}\n" for i in range(400))
        messages += [
            {"role": "user", "content": f"Read module_{n}.py"},
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": f"toolu_{n:04d}",
                        "name": "Read",
                        "input": {"file_path": f"/w/module_{n}.py"},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{n:04d}", "content": lines}
                ],
            },
        ]
    messages.append({"role": "user", "content": QUESTION})
    return body | {"messages": messages}


def post(gateway, body: dict) -> requests.Response:
    headers = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
    return requests.post(gateway.url + "/v1/messages?beta=true", json=body, headers=headers)


def answer_text(response: requests.Response) -> str:
    events = sse.events(response)
    return "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta")


def attached(fake, completion) -> list[fu.StoredFile]:
    ids = [f["id"] for f in completion.json["messages"][0]["files"]]
    return [fake.files[i] for i in ids]


def uploads(fake) -> int:
    return sum(r.method == "PUT" and r.path.startswith("/oss/") for r in fake.requests)


def test_a_600_kb_claude_code_conversation_is_answered_from_attached_files(gateway, fake):
    fake.max_body = SAFE  # the WAF: a larger completion body is punished
    body = claude_code_conversation(600_000)
    assert len(json.dumps(body)) >= 600_000 and len(body["tools"]) == 24

    r = post(gateway, body)

    assert r.status_code == 200, r.text
    assert answer_text(r) == f"The codeword is {CODEWORD}."
    assert all(len(c.body) < SAFE for c in fake.completions())
    sent = fake.last_completion()
    content = sent.json["messages"][0]["content"]
    assert CODEWORD not in content  # the model could only have read it in a file
    assert content.startswith("The earlier part of this conversation is in the attached text")
    assert content.endswith("</tool_use>, then stop.")  # the closing rules come last...
    assert QUESTION in content and '<tool name="Read">' in content  # ...the question, the tools
    files = attached(fake, sent)
    assert [f.name for f in files] == [f"conversation-{i}.txt" for i in range(1, len(files) + 1)]
    assert 2 <= len(files) <= 4 and all(f.content_type == "text/plain" for f in files)
    moved = "".join(f.data.decode() for f in files)
    assert f"the codeword is {CODEWORD}" in moved and "module_1.py: value" in moved
    assert QUESTION not in moved
    last_read = body["messages"][-2]["content"][0]["content"]
    assert last_read.splitlines()[-1] in content  # the newest tool result stayed in the text
    assert len(moved) + len(content) > 500_000  # nothing was dropped


def test_a_growing_conversation_uploads_only_the_file_that_changed(gateway, fake):
    fake.max_body = SAFE
    seen: list[tuple[int, int, int]] = []  # (body bytes, files attached, uploads this turn)
    known: set[bytes] = set()  # contents attached in an earlier turn
    for target in range(300_000, 500_000, 25_000):
        before = uploads(fake)
        r = post(gateway, claude_code_conversation(target))
        assert r.status_code == 200 and answer_text(r) == f"The codeword is {CODEWORD}."
        completion = fake.last_completion()
        files = [f.data for f in attached(fake, completion)]
        assert uploads(fake) - before == len(set(files) - known)  # cached by content
        known |= set(files)
        seen.append((len(completion.body), len(files), uploads(fake) - before))
    assert all(size < SAFE for size, _, _ in seen)
    assert seen[0][2] == seen[0][1] >= 2  # the first turn uploads every file
    # then the open (last) file, and the one before it when it just closed
    assert all(1 <= count <= 2 for _, _, count in seen[1:])
    assert sum(count for _, _, count in seen[1:]) < len(seen[1:]) * 1.5


def test_a_prompt_that_fits_travels_as_text_alone(gateway, fake):
    r = post(gateway, claude_code_conversation(60_000))
    assert r.status_code == 200 and answer_text(r) == f"The codeword is {CODEWORD}."
    assert fake.last_completion().json["messages"][0]["files"] == []
    assert uploads(fake) == 0


def test_openai_and_gemini_conversations_travel_as_files_too(gateway, fake):
    fake.max_body = SAFE
    filler = [
        {"role": "user", "content": f"Note {i}: " + "lorem ipsum " * 2000} for i in range(20)
    ]  # about 480 KB
    history = [{"role": "user", "content": f"The codeword is {CODEWORD}."}, *filler]
    openai_body = {"model": "auto", "messages": [*history, {"role": "user", "content": QUESTION}]}
    r = requests.post(
        gateway.url + "/v1/chat/completions",
        json=openai_body,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == f"The codeword is {CODEWORD}."
    contents = [{"role": "user", "parts": [{"text": m["content"]}]} for m in history]
    contents.append({"role": "user", "parts": [{"text": QUESTION}]})
    r = requests.post(
        gateway.url + "/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": contents},
        headers={"x-goog-api-key": TOKEN},
    )
    assert r.status_code == 200, r.text
    assert r.json()["candidates"][0]["content"]["parts"][0]["text"] == (
        f"The codeword is {CODEWORD}."
    )
    assert all(len(c.body) < SAFE for c in fake.completions())
    assert all(c.json["messages"][0]["files"] for c in fake.completions())


def test_tongyi_tickets_still_get_the_refusal(start_gateway, settings, fake):
    from tests import fake_tongyi as ft

    tongyi = ft.FakeTongyi().start()
    try:
        configured = dataclasses.replace(settings, tongyi_tickets=True, tongyi_url=tongyi.url)
        gateway = start_gateway(configured)
        body = {"model": "auto", "messages": [{"role": "user", "content": "x" * 200_000}]}
        headers = {"Authorization": "Bearer tongyi-sso-ticket-0001"}
        r = requests.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["message"].startswith("prompt is too long: ")
        assert tongyi.conversations() == []
    finally:
        tongyi.stop()


def test_a_refreshed_token_of_the_same_account_reuses_the_uploads(gateway, fake):
    fake.mode = fu.SEP_2026  # 15-minute tokens; files belong to the account
    fake.max_body = SAFE
    body = claude_code_conversation(300_000)
    headers = {"anthropic-version": "2023-06-01"}
    first, refreshed = fu.mint_token("acct-1"), fu.mint_token("acct-1", exp=int(2e9))
    for token in (first, refreshed):
        r = requests.post(
            gateway.url + "/v1/messages", json=body, headers=headers | {"x-api-key": token}
        )
        assert r.status_code == 200 and answer_text(r) == f"The codeword is {CODEWORD}.", r.text
    assert uploads(fake) == len(attached(fake, fake.last_completion())) >= 2
    r = requests.post(
        gateway.url + "/v1/messages",
        json=body,
        headers=headers | {"x-api-key": fu.mint_token("acct-2")},
    )
    assert r.status_code == 200 and uploads(fake) == 2 * len(attached(fake, fake.last_completion()))


# ------------------------------------------------------------------------------ the split itself


def sections(n: int, size: int = 10_000, system: str = "Be terse.") -> prompt.Sections:
    turns = tuple(
        ("user" if i % 2 == 0 else "assistant", f"turn {i} " + "y" * size) for i in range(n)
    )
    return prompt.Sections(system, '<tool name="Read">catalog</tool>', turns, "Rules: call.")


def test_closed_files_stay_byte_identical_as_the_conversation_grows():
    budget = 100_000
    before = long_prompt.split(sections(60), budget)
    # more turns, one of them with a line of '=' that forces a longer fence where it lands
    grown = sections(60)
    grown = dataclasses.replace(
        grown, messages=grown.messages + (("user", "=" * 30 + "\nnew"),) * 3 + sections(5).messages
    )
    after = long_prompt.split(grown, budget)
    assert before is not None and after is not None
    assert len(before.files) >= 3
    closed = before.files[:-1]
    assert [f.digest for f in after.files[: len(closed)]] == [f.digest for f in closed]
    assert after.files[len(closed)].digest != before.files[-1].digest  # the open one grew
    sizes = [len(f.data) for f in after.files]
    assert sizes[0] >= long_prompt.CHUNK_BYTES and sizes[1] >= 2 * long_prompt.CHUNK_BYTES
    assert len(after.files) <= long_prompt.MAX_FILES


def test_the_message_keeps_directive_tools_newest_turns_and_rules():
    s = sections(30, system="S" * 35_000)
    split = long_prompt.split(s, 40_000)
    assert split is not None and prompt.wire_size(split.text) <= 40_000
    text = split.text
    assert text.startswith("The earlier part of this conversation is in the attached text files")
    assert '<tool name="Read">catalog</tool>' in text and text.endswith("Rules: call.")
    assert "turn 29 " in text and "turn 28 " in text and "turn 0 " not in text
    assert "S" * 35_000 not in text  # the system prompt did not fit: it opens the first file
    first = split.files[0].data.decode()
    assert first.startswith("Part 1 of the conversation so far.") and "S" * 35_000 in first
    moved = "".join(f.data.decode() for f in split.files)
    kept = [i for i in range(30) if f"turn {i} " in text]
    assert kept == list(range(kept[0], 30))  # the kept turns are the newest, contiguous
    assert all(f"turn {i} " in moved for i in range(kept[0]))


def test_a_newest_turn_too_large_for_the_message_moves_too():
    s = prompt.Sections("", "", (("user", "a"), ("user", "z" * 50_000)), "")
    split = long_prompt.split(s, 10_000)
    assert split is not None and "z" * 50_000 in split.files[-1].data.decode()
    assert split.text.startswith("The earlier part") and "z" * 100 not in split.text


def test_no_split_when_even_the_directive_does_not_fit():
    assert long_prompt.split(sections(3), 100) is None
