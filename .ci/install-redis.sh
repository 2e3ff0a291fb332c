#!/usr/bin/env bash
# Install Debian's redis-server for the Redis runs of the state-store tests (tests/unit/test_store.py,
# tests/unit/upstream/test_pool.py). The tests start their own server on a free loopback port; the
# system service is not used (and not started here). Debian's package only. Never fatal:
# without apt or root the Redis tests skip and say why.
set -uo pipefail

if command -v redis-server >/dev/null 2>&1; then
    echo "install-redis: already installed: $(redis-server --version | head -n 1)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "install-redis: needs apt-get as root; the Redis store tests will be skipped"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d exit 101 keeps the package's own service from starting inside this run.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
if timeout 300 apt-get update -qq \
    && timeout 600 apt-get install -y -qq --no-install-recommends redis-server >/dev/null; then
    echo "install-redis: $(redis-server --version | head -n 1)"
else
    echo "install-redis: apt-get failed; the Redis store tests will be skipped"
fi
if [ "$created_policy" = 1 ]; then
    rm -f "$policy"
fi
exit 0
