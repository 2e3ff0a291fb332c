"""The homepage and /docs in a real headless Chromium (Debian's ``chromium`` package, installed
by .ci/install-browser.sh), driven by Playwright against the gateway on loopback.

Every request the pages make is recorded and must go to the gateway's own origin; anything
else is aborted before it leaves. Console errors (CSP violations included) fail the test.
Screenshots are written under pytest's temporary directory; the path is printed at the end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM = os.environ.get("QWENFREE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Root in a container needs --no-sandbox; the rest keep Chromium from calling home. Playwright
# adds --headless and gives every launch a fresh --user-data-dir of its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM}: run .ci/install-browser.sh (apt chromium)")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


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


@dataclass
class Visit:
    """One browser context on the gateway, with what its pages asked for and complained of."""

    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.errors == []
        assert self.foreign == []
        assert self.requests and all(u.startswith(self.origin + "/") for u in self.requests)


@pytest.fixture
def visit(browser: Any, gateway: Any) -> Iterator[Any]:
    """``visit(path, **context_options)`` opens a fresh context (own storage) on the gateway."""
    contexts = []

    def open_page(path: str = "/", **options: Any) -> Visit:
        options.setdefault("viewport", DESKTOP)
        options.setdefault("locale", "en-US")
        context = browser.new_context(**options)
        contexts.append(context)
        context.set_default_timeout(15_000)
        page = context.new_page()
        seen = Visit(page, gateway.url)

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith(gateway.url + "/"):
                r.continue_()
            else:
                seen.foreign.append(url)
                r.abort()

        context.route("**/*", route)
        page.on("request", lambda req: seen.requests.append(req.url))
        page.on("console", lambda m: m.type == "error" and seen.errors.append(m.text))
        page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
        page.goto(gateway.url + path, wait_until="load")
        return seen

    yield open_page
    for context in contexts:
        context.close()


def luminance(css_colour: str) -> float:
    """Rough brightness 0..255 of an ``rgb(r, g, b)`` string."""
    r, g, b = (float(v) for v in css_colour[css_colour.index("(") + 1 : -1].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def background(page: Any) -> float:
    return luminance(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def test_homepage_renders_offline_with_live_status_in_light_and_dark(visit, gateway, fake, shots):
    light = visit("/", color_scheme="light")
    light.page.wait_for_selector("#live-status[data-state=ok]")
    models = light.page.locator("#models li code").all_text_contents()
    assert models == [m["id"] for m in fake.models]
    snippet = light.page.text_content("#snippet-claude")
    assert f"export ANTHROPIC_BASE_URL={gateway.url}\n" in snippet
    assert light.page.text_content("#base-url") == gateway.url
    assert light.page.locator("#upstream .when-ok").is_visible()
    assert not light.page.locator("#upstream .when-loading").is_visible()
    light.page.screenshot(path=shots / "home-light.png", full_page=True)
    light.assert_clean()
    assert background(light.page) > 200

    dark = visit("/", color_scheme="dark")
    dark.page.wait_for_selector("#live-status[data-state=ok]")
    dark.page.screenshot(path=shots / "home-dark.png", full_page=True)
    dark.assert_clean()
    assert background(dark.page) < 60


def test_homepage_fits_a_phone_screen(visit, shots):
    phone = visit("/", viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="light")
    phone.page.wait_for_selector("#live-status[data-state=ok]")
    overflow = phone.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0  # wide code scrolls inside its own box, the page does not
    phone.page.screenshot(path=shots / "home-phone.png", full_page=True)
    phone.assert_clean()


def test_language_toggle_switches_to_chinese_and_is_remembered(visit, shots):
    v = visit("/")
    page = v.page
    heading = page.locator("#token h2")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert heading.inner_text() == "1. Get a credential"
    toggle = page.locator("#lang-toggle")
    assert toggle.inner_text() == "中文"

    toggle.click()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert heading.inner_text() == "1. 获取凭据"
    assert toggle.inner_text() == "English"
    page.wait_for_selector("#live-status[data-state=ok]")
    page.screenshot(path=shots / "home-zh.png", full_page=True)

    page.reload(wait_until="load")
    assert heading.inner_text() == "1. 获取凭据"  # remembered in localStorage
    page.locator("#lang-toggle").click()
    assert heading.inner_text() == "1. Get a credential"
    page.reload(wait_until="load")
    assert heading.inner_text() == "1. Get a credential"
    v.assert_clean()


def test_a_chinese_browser_gets_chinese_until_it_chooses(visit):
    v = visit("/", locale="zh-CN")
    assert v.page.locator("#token h2").inner_text() == "1. 获取凭据"
    v.page.locator("#lang-toggle").click()
    assert v.page.locator("#token h2").inner_text() == "1. Get a credential"
    v.assert_clean()


def test_copy_button_puts_the_snippet_on_the_clipboard(visit):
    v = visit("/", permissions=["clipboard-read", "clipboard-write"])
    button = v.page.locator("button[data-copy=snippet-curl]")
    button.click()
    v.page.wait_for_selector("button[data-copy=snippet-curl][data-copied]")
    copied = v.page.evaluate("navigator.clipboard.readText()")
    assert copied == v.page.text_content("#snippet-curl")
    assert copied.startswith(f"curl {v.origin}/v1/chat/completions")
    v.assert_clean()


def test_status_panel_says_when_the_model_list_is_unavailable(visit, fake):
    fake.models = []
    v = visit("/")
    v.page.wait_for_selector("#live-status[data-state=down]")
    assert v.page.locator("#upstream .when-down").is_visible()
    assert v.page.locator("#models li").count() > 0  # the built-in list
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
