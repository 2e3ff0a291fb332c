"""Screenshots of every page for docs/screenshots/: ``make screenshots``
(``.venv/bin/python -m tests.support.screenshots docs/screenshots``).

The gateway runs on loopback against the fake chat.qwen.ai, with caller keys and two server
accounts, so the admin dashboard has something to show: about an hour and a half of real
requests is sent with the per-minute ring's clock moved back, then one account is made dead.
Each page is shot in light and dark, English and 中文, on a desktop and a phone (the visible
screen only, one device pixel per CSS pixel: small files).
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from qwenfree import create_app
from qwenfree.settings import Settings
from tests import fake_upstream as fu
from tests.support.accounts import ADMIN_KEY, USER, USER_KEY, chat, keyed, tokens
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
PAGES = ("admin", "home", "docs", "status")  # admin first: the others add requests


def serve(fake: fu.FakeUpstream, data: Path) -> tuple[str, Any]:
    base = Settings(
        upstream_url=fake.url, auth_url=fake.url, connect_timeout=2.0, read_timeout=5.0,
        chat_ttl=-1, data_dir=str(data),
    )  # fmt: skip
    a, b = tokens(2)
    settings = keyed(base, data, accounts=f"{a},{b},demo@example.com:demo-password")
    app = create_app(dataclasses.replace(settings, rate_limit="600/minute"))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    traffic(url, app, fake, a)
    return url, server


def traffic(url: str, app: Any, fake: fu.FakeUpstream, doomed: str) -> None:
    """Real requests, spread over the last 90 minutes by the ring's clock."""
    ring = app.extensions["qwenfree"].ops.series
    now = time.time()
    for back in range(90, -1, -2):
        ring.clock = lambda back=back: now - back * 60
        for i in range(1 + (back * 7) % 5):
            # Not streamed: a stream is counted when the server closes it, which may be after
            # the clock has moved on.
            chat(url, model=("qwen3.7-plus", "qwen3.7-plus-thinking")[i % 2])
        if back % 26 == 0:  # a site hiccup: retried on the next account, then given up
            for _ in range(3):
                fake.enqueue(fu.http_error(500))
            chat(url)
        if back % 14 == 0:
            chat(url, model="no-such-model")
        if back % 4 == 0:  # the dashboard watching: account states noted for this minute
            ring.sample_states()
    ring.clock = time.time
    fake.enqueue_for(doomed, fu.http_error(401))
    chat(url)


def shoot(url: str, folder: Path) -> list[Path]:
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for page_name in PAGES:
            for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                for scheme in ("light", "dark"):
                    for lang, locale in (("en", "en-US"), ("zh", "zh-CN")):
                        context = browser.new_context(
                            viewport=viewport, color_scheme=scheme, locale=locale,
                            is_mobile=device == "phone", has_touch=device == "phone",
                        )  # fmt: skip
                        page = context.new_page()
                        prepare(page, url, page_name)
                        path = folder / f"{page_name}-{device}-{scheme}-{lang}.png"
                        page.screenshot(path=path, scale="css", animations="disabled")
                        written.append(path)
                        context.close()
        browser.close()
    return written


def prepare(page: Any, url: str, name: str) -> None:
    """Open the page in the state a new user would look at."""
    if name == "home":
        page.goto(url + "/")
        page.wait_for_selector("#live-status[data-state=ok]")
        page.fill("#token-input", USER_KEY)
        page.click("#token-test")
        page.wait_for_selector("#token-result[data-state=ok]")
        page.evaluate("scrollTo(0, document.getElementById('token').offsetTop - 8)")
    elif name == "admin":
        page.goto(url + "/admin")
        page.fill("#admin-key", ADMIN_KEY)
        page.click("#admin-login button[type=submit]")
        page.wait_for_selector("#accounts tbody tr:nth-child(3)")
    else:
        page.goto(url + "/" + name, wait_until="load")
    page.wait_for_timeout(300)


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    with fu.FakeUpstream() as fake, tempfile.TemporaryDirectory() as data:
        fake.accounts["demo@example.com"] = "demo-password"
        url, server = serve(fake, Path(data))
        assert USER  # the caller key the traffic used
        written = shoot(url, folder)
        server.shutdown()
    total = sum(p.stat().st_size for p in written)
    print(f"{len(written)} screenshots, {total / 1e6:.2f} MB, in {folder}")


if __name__ == "__main__":
    main()
