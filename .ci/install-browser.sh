#!/usr/bin/env bash
# Install headless Chromium from Debian for the homepage browser tests (tests/e2e/test_browser.py).
# Debian's own package only: nothing is downloaded outside apt. Never fatal: without apt or
# root the browser tests skip and say why. A small CJK font lets screenshots of the Chinese
# page show characters instead of boxes.
set -uo pipefail
PACKAGES=(chromium fonts-wqy-microhei)

if command -v chromium >/dev/null 2>&1 && dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then
    echo "install-browser: already installed: $(chromium --version 2>/dev/null | head -n 1)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "install-browser: needs apt-get as root; the browser tests will be skipped"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if timeout 300 apt-get update -qq \
    && timeout 900 apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null; then
    echo "install-browser: $(chromium --version 2>/dev/null | head -n 1)"
else
    echo "install-browser: apt-get failed; the browser tests will be skipped"
fi
exit 0
