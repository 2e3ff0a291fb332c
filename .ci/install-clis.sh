#!/usr/bin/env bash
# Install the real agent CLIs (Claude Code, gemini-cli) that the end-to-end tests drive, at the
# versions and integrity hashes locked in .ci/clis/package-lock.json. Never fatal: without node
# or the registry the CLI tests skip and say why.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/clis"
if ! command -v npm >/dev/null 2>&1; then
    echo "install-clis: npm not found; the agent CLI tests will be skipped"
    exit 0
fi
if [ -x node_modules/.bin/claude ] && [ -x node_modules/.bin/gemini ] \
    && cmp -s package-lock.json node_modules/.installed-lock 2>/dev/null; then
    echo "install-clis: already installed"
    exit 0
fi
if timeout 600 npm ci --no-audit --no-fund --loglevel=error; then
    cp package-lock.json node_modules/.installed-lock
    echo "install-clis: $(node_modules/.bin/claude --version 2>&1 | head -n 1);" \
        "gemini-cli $(node_modules/.bin/gemini --version 2>&1 | head -n 1)"
else
    echo "install-clis: npm ci failed; the agent CLI tests will be skipped"
fi
exit 0
