"""The admin dashboard: the per-minute series over HTTP, and the page in a real headless
Chromium (tests/support/browser.py): sign in, cards and charts after traffic, the Token /
Cookie / Email forms, confirmations, the self-check, 中文 mode, phones and contrast."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests import fake_upstream as fu
from tests.support import browser as browser_support
from tests.support.accounts import ADMIN, ADMIN_KEY, USER_KEY, chat, keyed, tokens
from tests.support.browser import PHONE, UNLABELLED, VISIBLE_TEXT, english_left, lowest_contrast

browser = browser_support.browser  # fixtures
visit_on = browser_support.visit_on


@pytest.fixture
def admin_gateway(start_gateway, settings, tmp_path):
    a, b = tokens(2)
    gateway = start_gateway(
        keyed(settings, tmp_path / "data", accounts=f"{a},demo@example.com:demo-password")
    )
    gateway.tokens = (a, b)
    return gateway


def series(gateway, minutes: int = 60) -> dict:
    r = requests.get(f"{gateway.url}/admin/api/series?minutes={minutes}", headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_series_counts_requests_errors_ttfb_and_tokens_per_minute(admin_gateway, fake):
    for _ in range(3):
        assert chat(admin_gateway.url).status_code == 200
    fake.enqueue(fu.http_error(500))
    fake.enqueue(fu.http_error(500))
    assert chat(admin_gateway.url).status_code == 502
    body = series(admin_gateway, 30)
    s = body["series"]
    assert body["minutes"] == 30 and all(len(v) == 30 for v in s.values())
    assert sum(s["req:openai"]) == 4 and s["req:openai"][-1] == 4  # this minute is the last
    assert sum(sum(v) for k, v in s.items() if k.startswith("err:")) == 1
    assert s["ttfb_p50"][-1] is not None and s["ttfb_p95"][-1] >= s["ttfb_p50"][-1]
    assert sum(v[-1] for k, v in s.items() if k.startswith("acct:")) == 2  # sampled on reading
    assert body["today"]["requests"] == 4 and body["today"]["errors"] == 1
    assert body["today"]["output_tokens"] > 0
    assert requests.get(admin_gateway.url + "/admin/api/series").status_code == 401
    bad = requests.get(admin_gateway.url + "/admin/api/series?minutes=x", headers=ADMIN)
    assert bad.status_code == 400


def test_the_ring_reuses_a_day_old_slot_from_zero(admin_gateway, fake):
    ring = admin_gateway.state.ops.series
    now = [1_000_000 * 60.0]
    ring.clock = lambda: now[0]
    ring._claimed = -1
    assert chat(admin_gateway.url).status_code == 200
    now[0] += 24 * 60 * 60  # the same slot, a day later
    assert chat(admin_gateway.url).status_code == 200
    assert sum(series(admin_gateway, 1440)["series"]["req:openai"]) == 1


# --- the page in Chromium ------------------------------------------------------------------


@pytest.fixture
def dashboard(visit_on, admin_gateway):
    """``dashboard(**context_options)``: the admin page, signed in, with its accounts shown."""

    def open_signed_in(**options: Any) -> Any:
        v = visit_on(admin_gateway.url, "/admin", **options)
        v.page.fill("#admin-key", ADMIN_KEY)
        v.page.click("#admin-login button[type=submit]")
        v.page.wait_for_selector("#accounts tbody tr:nth-child(2)")
        return v

    return open_signed_in


def test_cards_and_charts_show_the_traffic(dashboard, admin_gateway, fake):
    for _ in range(2):
        assert chat(admin_gateway.url).status_code == 200
    v = dashboard()
    page = v.page
    assert page.inner_text("#card-ready") == "2" and page.inner_text("#card-requests") == "2"
    assert float(page.get_attribute("#chart-requests", "data-total")) == 2
    assert page.locator("#chart-requests svg rect").count() >= 1
    assert page.locator("#chart-ttfb svg path, #chart-ttfb svg circle").count() >= 1
    assert "OpenAI" in page.inner_text("#chart-requests .legend")
    assert page.locator("#chart-errors .empty").is_visible()
    assert not page.locator("#admin-login").is_visible()  # the key is asked for once
    v.assert_clean()


def test_email_after_a_failed_token_add_sends_only_the_email(dashboard, admin_gateway, fake):
    fake.accounts["second@example.com"] = "pw-2"
    v = dashboard()
    page = v.page
    page.fill("#new-token", "bad-token-1")
    page.click("#add-token button[type=submit]")
    page.wait_for_selector("#add-message[data-kind=bad]")
    assert "rejects" in page.inner_text("#add-message")
    page.click("#tab-add-email")
    assert not page.locator("#new-token").is_visible()
    page.fill("#new-email", "second@example.com")
    page.fill("#new-password", "pw-2")
    page.click("#add-email button[type=submit]")
    page.wait_for_selector("#accounts tbody tr:nth-child(3)")
    assert page.inner_text("#add-message").startswith("Added acct-")
    added = requests.get(admin_gateway.url + "/admin/api/accounts", headers=ADMIN).json()
    assert [a["email"] for a in added["accounts"]][-1] == "se***@example.com"
    v.assert_clean()


def test_cookie_tab_and_adding_the_same_token_twice(dashboard, admin_gateway, fake):
    fake.mode = "2026-09"  # the site that hands out refresh tokens
    v = dashboard()
    page = v.page
    page.click("#tab-add-cookie")
    cookie = "x5sec=abc; refresh_token=" + fake.issue_refresh_token() + "; other=1"
    page.fill("#new-cookie", cookie)
    page.click("#add-cookie button[type=submit]")
    page.wait_for_selector("#accounts tbody tr:nth-child(3)")
    assert page.inner_text("#add-message").startswith("Added acct-")
    page.click("#tab-add-token")
    page.fill("#new-token", admin_gateway.tokens[0])  # already held (QWENFREE_ACCOUNTS)
    page.click("#add-token button[type=submit]")
    page.wait_for_selector("#add-message[data-kind=ok]")
    assert page.inner_text("#add-message").startswith("Already there")
    v.assert_clean()


def test_remove_asks_first_and_says_env_accounts_come_back(dashboard, admin_gateway, fake):
    v = dashboard()
    page = v.page
    first = page.locator("#accounts tbody tr").first
    first.locator("button[data-action=remove]").click()
    assert "next restart" in first.locator(".confirm").inner_text()
    first.locator("button[data-action=cancel]").click()
    assert first.locator(".confirm").count() == 0
    assert page.locator("#accounts tbody tr").count() == 2  # nothing was removed
    first.locator("button[data-action=remove]").click()
    first.locator("button[data-action=confirm-remove]").click()
    page.wait_for_selector("#accounts tbody tr:nth-child(2)", state="detached")
    assert page.inner_text("#add-message").startswith("Removed")
    second = page.locator("#accounts tbody tr").first
    second.locator("button[data-action=check]").click()
    page.wait_for_selector("#accounts tbody tr .row-feedback[data-kind=ok]")
    assert "works" in second.locator(".row-feedback").inner_text()
    v.assert_clean()


def test_the_self_check_says_when_the_gateway_lacks_it(dashboard, admin_gateway):
    """An older gateway behind the same page answers 404 for the doctor route."""
    v = dashboard()
    v.page.route(
        admin_gateway.url + "/admin/api/doctor",
        lambda r: r.fulfill(status=404, json={"error": {"message": "No route"}}),
    )
    v.page.click("#doctor-run")
    v.page.wait_for_selector("#doctor-message[data-kind=bad]")
    assert "not available" in v.page.inner_text("#doctor-message")
    v.assert_clean()


def test_the_self_check_table_renders_a_report(dashboard, admin_gateway):
    """The doctor endpoint belongs to another change: here the browser gets a report of the
    agreed shape through the page's own route, to check the rendering."""
    report = {
        "ok": False, "profile": "2026-09", "web_version": "0.1.0", "summary": "sign-in fails",
        "advice": ["Sign in again"],
        "steps": [
            {"step": "models", "endpoint": "/api/models", "http_status": 200,
             "actual_status": "200", "code": None, "details": None, "ms": 12.5, "verdict": "ok"},
            {"step": "chat", "endpoint": "/api/v2/chat/completions", "http_status": 200,
             "actual_status": "429", "code": "RateLimited", "details": "too many",
             "ms": 80.0, "verdict": "rate limited"},
        ],
    }  # fmt: skip
    v = dashboard()
    v.page.route(
        admin_gateway.url + "/admin/api/doctor",
        lambda r: r.fulfill(status=200, json=report),
    )
    v.page.click("#doctor-run")
    v.page.wait_for_selector("#doctor-steps tbody tr:nth-child(2)")
    assert (
        v.page.locator("#doctor-steps tr[data-verdict='rate limited'] .verdict-warn").count() == 1
    )
    assert "200 → 429" in v.page.inner_text("#doctor-steps")
    assert v.page.inner_text("#doctor-advice") == "Sign in again"
    v.assert_clean()


def test_every_dashboard_control_has_a_label(dashboard):
    v = dashboard()
    for tab in ("#tab-add-token", "#tab-add-cookie", "#tab-add-email"):
        v.page.click(tab)
        assert v.page.evaluate(UNLABELLED) == []


def test_in_chinese_no_english_is_left_on_the_dashboard(dashboard, admin_gateway):
    assert chat(admin_gateway.url).status_code == 200
    v = dashboard(locale="zh-CN")
    v.page.locator("#accounts tbody tr").first.locator("button[data-action=remove]").click()
    left = english_left(v.page.evaluate(VISIBLE_TEXT), {"acct"})
    assert left == [], left
    v.assert_clean()


def test_on_a_phone_rows_become_cards_with_every_field(dashboard):
    v = dashboard(viewport=PHONE, is_mobile=True, has_touch=True)
    page = v.page
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    row = page.locator("#accounts tbody tr").first
    cells = row.locator("td")
    assert cells.count() == 6 and all(cells.nth(i).is_visible() for i in range(6))
    assert row.locator("button[data-action=remove]").is_visible()
    label = page.evaluate(
        "getComputedStyle(document.querySelector('#accounts td'), '::before').content"
    )
    assert label == '"Account"'
    v.assert_clean()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_dashboard_contrast_is_at_least_4_5(dashboard, admin_gateway, fake, scheme):
    fake.enqueue_for(admin_gateway.tokens[0], fu.http_error(401))
    assert chat(admin_gateway.url).status_code == 200  # one account dead, one ready
    v = dashboard(color_scheme=scheme)
    v.page.wait_for_selector("#accounts tr[data-state=dead]")
    ratio, where = lowest_contrast(v.page)
    assert ratio >= 4.5, where


def test_with_caller_keys_the_homepage_box_takes_and_tests_the_api_key(visit_on, admin_gateway):
    v = visit_on(admin_gateway.url, "/")
    page = v.page
    assert page.locator("#keyed-note").is_visible()
    page.fill("#token-input", USER_KEY)
    page.click("#token-test")
    page.wait_for_selector("#token-result[data-state=ok]")
    assert page.inner_text("#token-kind") == "API key of this server"
    page.fill("#token-input", "sk-not-a-key")
    page.click("#token-test")
    page.wait_for_selector("#token-result[data-state=bad]")
    v.assert_clean()
