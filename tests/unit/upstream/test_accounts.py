"""Token rotation and cooldowns, with an injected clock."""

import pytest

from qwenfree import errors
from qwenfree.upstream.accounts import TokenHealth, mask


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_round_robin_rotates_the_first_choice():
    health = TokenHealth(Clock())
    firsts = [health.order(["a", "b", "c"])[0] for _ in range(6)]
    assert firsts == ["a", "b", "c", "a", "b", "c"]


def test_hard_cooldown_skips_then_recovers():
    clock = Clock()
    health = TokenHealth(clock)
    health.cool("a", 60, hard=True)
    assert "a" not in health.order(["a", "b"])
    clock.now += 61
    assert "a" in health.order(["a", "b"])


def test_soft_failure_moves_a_token_last_until_it_recovers():
    health = TokenHealth(Clock())
    health.cool("a", 30, hard=False)
    assert health.order(["a", "b"]) == ["b", "a"]
    health.recover("a")
    assert sorted(health.order(["a", "b"])) == ["a", "b"]


def test_all_hard_cooling_raises_with_the_earliest_recovery():
    clock = Clock()
    health = TokenHealth(clock)
    health.cool("a", 100, hard=True)
    health.cool("b", 40, hard=True)
    with pytest.raises(errors.NoTokenAvailable) as info:
        health.order(["a", "b"])
    assert info.value.retry_after == 40


def test_mask_shows_at_most_four_characters():
    assert mask("eyJhbGciOiJIUzI1NiJ9.secret.tail") == "…tail"
    assert mask("short") == "…"
