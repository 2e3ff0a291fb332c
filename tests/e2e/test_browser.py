"""The homepage, /docs and /status in a real headless Chromium (see tests/support/browser.py):
the token box, the Test button, the playground, tabs, 中文 mode, phones, contrast.

Screenshots are written under pytest's temporary directory; the path is printed at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import fake_upstream as fu
from tests.conftest import TOKEN
from tests.support import browser as browser_support
from tests.support.browser import (
    PHONE,
    UNLABELLED,
    VISIBLE_TEXT,
    english_left,
    lowest_contrast,
)

expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect
browser = browser_support.browser  # fixtures
visit_on = browser_support.visit_on

PAGES = ("/", "/docs", "/status")


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """Where screenshots go; announced on the terminal once the module is done."""
    folder = tmp_path_factory.mktemp("screenshots")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def announce() -> None:
        if capture is not None and any(folder.iterdir()):
            with capture.global_and_fixture_disabled():  # visible without -s
                print(f"\nbrowser screenshots: {folder}")

    request.addfinalizer(announce)
    return folder


@pytest.fixture
def visit(visit_on: Any, gateway: Any) -> Iterator[Any]:
    yield lambda path="/", **options: visit_on(gateway.url, path, **options)


def luminance(css_colour: str) -> float:
    """Rough brightness 0..255 of an ``rgb(r, g, b)`` string."""
    r, g, b = (float(v) for v in css_colour[css_colour.index("(") + 1 : -1].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def background(page: Any) -> float:
    return luminance(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def heading(page: Any) -> str:
    return page.locator("#token h2").inner_text().lstrip("1").strip()


def test_homepage_renders_offline_with_live_models_in_light_and_dark(visit, gateway, fake, shots):
    light = visit("/", color_scheme="light")
    light.page.wait_for_selector("#live-status[data-state=ok]")
    models = light.page.locator("#model-list > li.model > button code").all_text_contents()
    assert models == [m["id"] for m in fake.models]
    assert light.page.text_content("#base-url") == gateway.url
    assert light.page.locator("#live-status .when-ok").is_visible()
    assert not light.page.locator("#live-status .when-static").is_visible()
    assert light.page.locator("#endpoints").count() == 0  # the endpoint table is on /docs
    light.page.screenshot(path=shots / "home-light.png", full_page=True)
    light.assert_clean()
    assert background(light.page) > 200

    dark = visit("/", color_scheme="dark")
    dark.page.wait_for_selector("#live-status[data-state=ok]")
    dark.page.screenshot(path=shots / "home-dark.png", full_page=True)
    dark.assert_clean()
    assert background(dark.page) < 60


def test_without_javascript_the_homepage_is_a_readable_page(visit, gateway):
    v = visit("/", java_script_enabled=False)
    page = v.page
    for tab in ("curl", "python", "js", "claude", "gemini", "apps"):
        assert page.locator(f"#panel-{tab}").is_visible()  # every snippet, one under another
    assert not page.locator("[role=tablist]").is_visible()
    assert page.locator("#live-status .when-static a[href='/status']").is_visible()
    assert "$QWEN_TOKEN" in page.text_content("#snippet-curl")
    assert not page.locator("#token-box").is_visible()  # it needs the script
    assert not page.locator("#try").is_visible()


def test_tabs_show_one_snippet_and_follow_the_arrow_keys(visit):
    v = visit("/")
    page = v.page
    assert page.locator("#panel-curl").is_visible()
    assert not page.locator("#panel-python").is_visible()
    page.click("#tab-python")
    assert (
        page.locator("#panel-python").is_visible() and not page.locator("#panel-curl").is_visible()
    )
    page.keyboard.press("ArrowRight")
    assert page.locator("#panel-js").is_visible()
    assert page.evaluate("document.activeElement.id") == "tab-js"
    assert page.locator("#snippet-js .tk-keyword").count() > 0  # highlighted
    v.assert_clean()


def test_the_token_box_fills_every_snippet_and_is_remembered(visit, gateway):
    v = visit("/", permissions=["clipboard-read", "clipboard-write"])
    page = v.page
    secret = "refresh_token=abc'def"
    page.fill("#token-input", secret)
    text = page.text_content
    assert "Bearer refresh_token=abc'def\"" in text("#snippet-curl")
    assert "export ANTHROPIC_AUTH_TOKEN='refresh_token=abc'\\''def'" in text("#snippet-claude")
    assert "export GEMINI_API_KEY='refresh_token=abc'\\''def'" in text("#snippet-gemini")
    assert 'api_key="refresh_token=abc\'def")' in text("#snippet-python")
    assert 'apiKey: "refresh_token=abc\'def" }' in text("#snippet-js")
    assert """-d '{"token":"refresh_token=abc'\\''def"}'""" in text("#snippet-check")
    page.click("#tab-claude")
    page.click("button[data-copy=snippet-claude]")
    page.wait_for_selector("button[data-copy=snippet-claude][data-copied]")
    assert "'refresh_token=abc'\\''def'" in page.evaluate("navigator.clipboard.readText()")

    page.reload(wait_until="load")
    assert page.input_value("#token-input") == secret  # kept in this browser
    assert "'refresh_token=abc'\\''def'" in text("#snippet-claude")
    page.click("#token-forget")
    assert 'ANTHROPIC_AUTH_TOKEN="$QWEN_TOKEN"' in text("#snippet-claude")
    assert 'os.environ["QWEN_TOKEN"]' in text("#snippet-python")
    v.assert_clean()


def test_the_test_button_shows_kind_expiry_and_advice(visit, fake):
    v = visit("/")
    page = v.page
    page.fill("#token-input", fu.mint_token("someone"))
    page.click("#token-test")
    page.wait_for_selector("#token-result[data-state=ok]")
    assert page.inner_text("#token-live") == "yes"
    assert page.inner_text("#token-kind") == "access token"
    assert page.inner_text("#token-expires") not in ("", "not stated")
    assert "expires" in page.inner_text("#token-advice")

    page.fill("#token-input", "bad-token")
    page.click("#token-test")
    page.wait_for_selector("#token-result[data-state=bad]")
    assert page.inner_text("#token-live") == "no"
    assert "refresh_token" in page.inner_text("#token-advice")
    page.click("#lang-toggle")
    assert page.inner_text("#token-live") == "否"
    assert page.inner_text("#token-advice").startswith("网站拒绝了它")
    assert (
        page.evaluate("getComputedStyle(document.querySelector('#token-result dl')).display")
        == "grid"
    )
    v.assert_clean()


def test_the_playground_streams_an_answer_with_thinking_apart(visit, fake):
    v = visit("/")
    page = v.page
    page.click("#play-send")
    assert "credential" in page.inner_text("#play-state")  # none given yet
    page.fill("#token-input", TOKEN)
    page.wait_for_selector('#play-model option[value="qwen3.7-plus-thinking"]', state="attached")
    page.select_option("#play-model", "qwen3.7-plus-thinking")
    page.fill("#play-prompt", "Say hi")
    page.click("#play-send")
    expect(page.locator("#play-state [lang=en]")).to_have_text("Done.", timeout=15_000)
    assert page.inner_text("#play-answer").strip()
    assert page.locator("#play-thinking-box").is_visible()
    assert page.inner_text("#play-thinking").strip()
    assert page.inner_text("#play-thinking") not in page.inner_text("#play-answer")
    assert "Say hi" in fake.last_completion().body.decode()
    v.assert_clean()


def test_model_chips_copy_their_id(visit):
    v = visit("/", permissions=["clipboard-read", "clipboard-write"])
    page = v.page
    chip = page.locator("#model-list .chips.small button").first
    name = chip.locator("code").inner_text()
    chip.click()
    assert page.evaluate("navigator.clipboard.readText()") == name
    assert "-" in name and chip.bounding_box()["height"] < 40  # one line, never broken
    v.assert_clean()


@pytest.mark.parametrize("path", PAGES)
def test_pages_fit_a_phone_screen(visit, shots, path):
    phone = visit(path, viewport=PHONE, is_mobile=True, has_touch=True)
    phone.page.wait_for_timeout(300)
    overflow = phone.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0  # wide code scrolls inside its own box, the page does not
    phone.assert_clean()


def test_language_toggle_switches_to_chinese_and_is_remembered(visit, shots):
    v = visit("/")
    page = v.page
    assert page.evaluate("document.documentElement.lang") == "en"
    assert heading(page) == "Get a credential"
    toggle = page.locator("#lang-toggle")
    assert toggle.inner_text() == "中文"

    toggle.click()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert heading(page) == "获取凭据"
    assert toggle.inner_text() == "English"
    page.reload(wait_until="load")
    assert heading(page) == "获取凭据"  # remembered in localStorage
    page.locator("#lang-toggle").click()
    page.reload(wait_until="load")
    assert heading(page) == "Get a credential"
    v.assert_clean()


def test_a_chinese_browser_gets_chinese_until_it_chooses(visit):
    v = visit("/", locale="zh-CN")
    assert heading(v.page) == "获取凭据"
    v.page.locator("#lang-toggle").click()
    assert heading(v.page) == "Get a credential"
    v.assert_clean()


@pytest.mark.parametrize("path", PAGES)
def test_in_chinese_no_english_is_left(visit, path):
    v = visit(path, locale="zh-CN")
    v.page.wait_for_timeout(300)
    if path == "/":
        v.page.wait_for_selector("#live-status[data-state=ok]")
        v.page.fill("#token-input", "bad-token")
        v.page.click("#token-test")
        v.page.wait_for_selector("#token-result[data-state=bad]")
    texts = v.page.evaluate(VISIBLE_TEXT)
    left = english_left(texts)
    assert left == [], left
    v.assert_clean()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", PAGES)
def test_text_contrast_is_at_least_4_5(visit, path, scheme):
    v = visit(path, color_scheme=scheme)
    if path == "/":
        v.page.wait_for_selector("#live-status[data-state=ok]")
        v.page.fill("#token-input", "bad-token")
        v.page.click("#token-test")
        v.page.wait_for_selector("#token-result[data-state=bad]")
    ratio, where = lowest_contrast(v.page)
    assert ratio >= 4.5, where


def test_copy_button_puts_the_snippet_on_the_clipboard(visit):
    v = visit("/", permissions=["clipboard-read", "clipboard-write"])
    button = v.page.locator("button[data-copy=snippet-curl]")
    button.click()
    v.page.wait_for_selector("button[data-copy=snippet-curl][data-copied]")
    copied = v.page.evaluate("navigator.clipboard.readText()")
    assert copied == v.page.text_content("#snippet-curl")
    assert copied.startswith(f"curl -N {v.origin}/v1/chat/completions")
    v.assert_clean()


def test_status_line_says_when_the_model_list_is_unavailable(visit, fake):
    fake.models = []
    v = visit("/")
    v.page.wait_for_selector("#live-status[data-state=down]")
    assert v.page.locator("#live-status .when-down").is_visible()
    assert v.page.locator("#model-list li").count() > 0  # the built-in list
    v.assert_clean()


def test_status_is_a_page_for_browsers(visit, fake, gateway):
    v = visit("/status")
    assert v.page.locator("#status-models tbody tr").count() == len(fake.models)
    assert v.page.locator("#status-upstream[data-state=ok]").is_visible()
    heights = v.page.evaluate(
        "[...document.querySelectorAll('code.model-id, code.variant')].map(c => c.getClientRects().length)"
    )
    assert heights and set(heights) == {1}  # no id broken over two lines
    facts = v.page.evaluate("getComputedStyle(document.querySelector('.cards')).display")
    assert facts == "grid"
    assert requests.get(gateway.url + "/status").json()["version"]  # JSON for programs
    v.assert_clean()


def test_docs_page_renders_every_operation(visit, gateway, shots):
    doc = requests.get(gateway.url + "/openapi.json").json()
    expected = sum(len(item) for item in doc["paths"].values())
    v = visit("/docs")
    assert v.page.locator("article.operation").count() == expected
    v.page.click("a[href='#schema-openai.ChatCompletion']")
    assert v.page.locator("#schema-openai\\.ChatCompletion").is_visible()
    v.page.screenshot(path=shots / "docs-light.png", full_page=True)
    v.assert_clean()


@pytest.mark.parametrize("path", PAGES)
def test_every_control_has_a_label(visit, path):
    v = visit(path)
    assert v.page.evaluate(UNLABELLED) == []


def test_the_quick_start_is_reachable_by_keyboard(visit):
    v = visit("/")
    page = v.page
    reached = []
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
    for control in ("lang-toggle", "token-input", "token-test", "tab-curl", "play-prompt"):
        assert control in reached
    page.focus("#token-input")
    page.keyboard.type(TOKEN)
    page.keyboard.press("Enter")  # the Test button is the form's submit
    page.wait_for_selector("#token-result[data-state=ok]")


def test_the_reference_sidebar_search_narrows_the_list(visit):
    v = visit("/docs")
    page = v.page
    total = page.locator(".sidebar li").count()
    page.fill("#docs-search", "count_tokens")
    assert page.locator(".sidebar li:visible").count() == 1
    page.fill("#docs-search", "post messages")
    assert 1 <= page.locator(".sidebar li:visible").count() < total
    page.fill("#docs-search", "no-such-route")
    assert page.locator(".sidebar li:visible").count() == 0
    assert page.locator("#docs-none").is_visible()
    page.fill("#docs-search", "")
    assert page.locator(".sidebar li:visible").count() == total
    v.assert_clean()
