"""Shared pieces of the page tests in a real headless Chromium (Debian's ``chromium`` package,
installed by .ci/install-browser.sh), driven by Playwright against the gateway on loopback.

Import the fixtures ``browser`` and ``visit_on`` into a test module to use them. Every request a
page makes is recorded and must go to the gateway's own origin; anything else is aborted
before it leaves. Console errors (CSP violations included) fail :meth:`Visit.assert_clean`.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

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
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM}: run .ci/install-browser.sh (apt chromium)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


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


def expected(console_error: str) -> bool:
    """Chromium logs every 4xx answer to fetch(); the pages show those to the reader."""
    return console_error.startswith(
        "Failed to load resource: the server responded with a status of 4"
    )


@pytest.fixture
def visit_on(browser: Any) -> Iterator[Callable[..., Visit]]:
    """``visit_on(origin, path, **context_options)``: a fresh context (own storage)."""
    contexts = []

    def open_page(origin: str, path: str = "/", **options: Any) -> Visit:
        options.setdefault("viewport", DESKTOP)
        options.setdefault("locale", "en-US")
        context = browser.new_context(**options)
        contexts.append(context)
        context.set_default_timeout(15_000)
        page = context.new_page()
        seen = Visit(page, origin)

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith(origin + "/"):
                r.continue_()
            else:
                seen.foreign.append(url)
                r.abort()

        context.route("**/*", route)
        page.on("request", lambda req: seen.requests.append(req.url))
        page.on(
            "console",
            lambda m: m.type == "error" and not expected(m.text) and seen.errors.append(m.text),
        )
        page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
        page.goto(origin + path, wait_until="load")
        return seen

    yield open_page
    for context in contexts:
        context.close()


# --- what a reader sees ---------------------------------------------------------------------

# Visible text outside code: every text node whose element the browser renders. Text the
# server passes through as it came (``.reason``: an upstream's error message) is skipped.
VISIBLE_TEXT = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode, el = node.parentElement;
    if (!node.nodeValue.trim() || el.closest('code, pre, kbd, script, style, option, .reason')) continue;
    if (!el.checkVisibility({visibilityProperty: true})) continue;
    out.push(node.nodeValue.trim());
  }
  return out;
}"""
# Names that stay as they are in Chinese text: products, protocols, UI names of other programs.
ALLOWED_WORDS = {
    "qwenfree", "Qwen", "chat.qwen.ai", "OpenAI", "Anthropic", "Gemini", "Claude", "Code",
    "gemini-cli", "LobeChat", "Dify", "SDK", "API", "OpenAPI", "JSON", "Cookie", "token",
    "Token", "ticket", "Chrome", "Edge", "Firefox", "Application", "Storage", "Mac", "Ctrl",
    "Shift", "Model", "Studio", "curl", "Python", "JavaScript", "openapi.json", "healthz",
    "access", "refresh", "Local", "Bearer", "tongyi.aliyun.com", "UTC", "id", "p50", "p95",
    "Tongyi", "English", "Prometheus", "refresh_token", "GET", "POST", "PUT", "DELETE", "HTTP", "SSE", "ms", "min", "s", "h", "TTFB",
}  # fmt: skip
URL = re.compile(r"https?://\S+|/[\w./{}-]+")


def english_left(texts: list[str], extra: set[str] = frozenset()) -> list[str]:
    """Latin words in ``texts`` that are not allowed names (URLs and paths dropped)."""
    words = re.findall(r"[A-Za-z][\w.'-]*[A-Za-z0-9]|[A-Za-z]", URL.sub(" ", " ".join(texts)))
    names = {w for w in words if w.startswith("Qwen")}  # model names: Qwen3-Max, ...
    return sorted({w for w in words if w not in ALLOWED_WORDS | extra | names})


# WCAG 2 contrast of every visible text element against the first opaque background behind it.
CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0.9) return c;
    }
    return rgb(getComputedStyle(document.body).backgroundColor);
  };
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walk.nextNode()) {
    const el = walk.currentNode.parentElement;
    if (!walk.currentNode.nodeValue.trim() || seen.has(el) || !el.checkVisibility()) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    if (el.closest('button:disabled')) continue;
    const a = lum(rgb(style.color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push([ratio, el.tagName + '.' + el.className + ': ' + walk.currentNode.nodeValue.trim().slice(0, 30)]);
  }
  return out;
}"""


def lowest_contrast(page: Any) -> tuple[float, str]:
    found = page.evaluate(CONTRAST)
    return min((tuple(x) for x in found), default=(21.0, ""))


# Form controls the reader can reach that have no accessible name (a <label>, aria-label or,
# for buttons, their own text).
UNLABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
  .filter((el) => el.checkVisibility() && el.type !== 'hidden')
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !(el.tagName === 'BUTTON' && el.innerText.trim()))
  .map((el) => el.outerHTML.slice(0, 80))"""
