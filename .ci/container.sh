#!/usr/bin/env bash
# CI step: build the container image and the compose stack, run them, and check them end to end
# with podman (the CI machines have a docker CLI but no engine, and no registry).
#
#   bash .ci/container.sh          # as root on Debian 12; called from .ci/run
#
# Checks, each failing the step: the image builds (Dockerfile unchanged; only BASE_IMAGE points
# at a local Debian base, since python:3.11-slim cannot be pulled); it has a USER and a
# HEALTHCHECK; the container becomes healthy (`podman healthcheck run`) and runs as non-root;
# /healthz answers; a chat completion streams through it to `data: [DONE]`; SIGTERM during a
# stream lets it finish and the container exits 0 within the graceful period; run-docker.sh
# with DOCKER=podman honours its overrides; docker-compose.yml (profile nginx, CI override
# .ci/compose.ci.yml) comes up healthy and nginx passes the first event on while the upstream
# is still silent (no buffering) and a whole stream to [DONE].
#
# Skipped, exit 0 with the reason, when the machine cannot run it (not Linux/root, apt cannot
# install podman, no Debian mirror for the base image, podman cannot start a container, no
# network from containers), or when QWENFREE_SKIP_CONTAINERS=1.
#
# Cached between runs on one machine: the base image (in podman's store, and as a tarball in
# $CACHE, rebuilt weekly for security updates), the .debs debootstrap fetched, podman's layer
# cache, the podman-compose venv. Images stay; containers, pods and networks are removed.
# Environment: QWENFREE_CI_CACHE (default /var/cache/qwenfree-ci), DEBIAN_MIRROR.
# Timings on a 2-core CI machine: ~3 min cold (plus ~10 s of apt the first time), 30-60 s warm.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
CACHE=${QWENFREE_CI_CACHE:-/var/cache/qwenfree-ci}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
WEEK=$(date -u +%Gw%V)
BASE_REPO=localhost/qwenfree-ci-base
BASE_IMAGE=$BASE_REPO:bookworm-$WEEK
APP_IMAGE=localhost/qwenfree-ci:app
RUN_IMAGE=localhost/qwenfree-ci:run-docker
NET=qwenfree-ci
FAKE=qwenfree-ci-fake
APP=qwenfree-ci-app
RUN_NAME=qwenfree-ci-run-docker
PROJECT=qwenfree-ci
GRACE=20   # QWENFREE_GRACEFUL_TIMEOUT in the checks: a stop must end well inside it
SLOW_TEXT=$(python3 -c 'print("".join(f"p{i} " for i in range(30)), end="")')  # slow_fake.py

T0=$(date +%s)
step() { printf '\n== [%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
skip() { printf '\ncontainer.sh: SKIPPED: %s\n' "$*"; exit 0; }
die() { printf '\ncontainer.sh: FAILED: %s\n' "$*" >&2; exit 1; }
# podman logs a harmless "unable to get systemd connection" error for every container with a
# healthcheck (no systemd here => no healthcheck timer); drop just those lines.
nosd() { "$@" 2> >(grep --line-buffered -v -e 'systemd connection' -e 'connect to syslog' >&2); }
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])'
}
http_get() {  # URL -> body on stdout; non-zero on any failure (no curl needed)
    python3 - "$1" <<'PY'
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(sys.argv[1], timeout=5) as r:
    print(r.read().decode())
PY
}
probe() { python3 "$ROOT/.ci/sse_probe.py" "$@"; }

wait_healthy() {  # CONTAINER: run the image's HEALTHCHECK until it passes (no systemd timer)
    local c=$1 deadline=$((SECONDS + 45))
    while [ "$SECONDS" -lt "$deadline" ]; do
        podman healthcheck run "$c" >/dev/null 2>&1 && return 0
        [ "$(podman inspect -f '{{.State.Running}}' "$c")" = true ] || break
        sleep 0.2
    done
    podman logs "$c" 2>&1 | tail -30
    die "container $c did not become healthy (podman healthcheck run)"
}

wait_http() {  # URL: until it answers 2xx (nginx has no healthcheck)
    for _ in $(seq 100); do
        http_get "$1" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "$1 never answered"
}

pc() {  # podman-compose waits forever for a dependency that failed to start: bound it
    nosd timeout 600 env BASE_IMAGE="$BASE_IMAGE" "$CACHE/podman-compose/bin/podman-compose" \
        -p "$PROJECT" -f docker-compose.yml -f .ci/compose.ci.yml --profile nginx "$@"
}

cleanup() (  # a subshell: its `set +e` and redirections stay here
    set +e
    if command -v podman >/dev/null; then
        [ -x "$CACHE/podman-compose/bin/podman-compose" ] && pc down -t 5 >/dev/null 2>&1
        podman pod rm -f -t 2 "pod_$PROJECT" >/dev/null 2>&1
        podman rm -f -t 2 "$APP" "$FAKE" "$RUN_NAME" >/dev/null 2>&1
        podman network rm -f "$NET" "${PROJECT}_default" >/dev/null 2>&1
    fi
    rm -rf "$CACHE/rootfs"
    true
)

# --- the base image: debootstrap bookworm -> podman import (containers.md §3) ---------------

build_base_image() {  # -> 0 and $BASE_IMAGE in podman's store, or non-zero (mirror trouble)
    local r=$CACHE/rootfs
    # python3-venv (ensurepip) because the Dockerfile makes a venv; pip, ca-certificates,
    # netbase and tzdata because python:3.11-slim has them. (One --include: a second replaces it.)
    local pkgs=python3,python3-venv,python3-pip,python-is-python3,ca-certificates,netbase,tzdata
    rm -rf "$r"
    mkdir -p "$CACHE/debs"
    debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$pkgs" \
        bookworm "$r" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
        || { tail -5 "$CACHE/debootstrap.log"; return 1; }
    # Outbound TLS may be intercepted: trust the host's extra CAs, as the host does.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$r/usr/local/share/ca-certificates/"
        chroot "$r" update-ca-certificates >/dev/null 2>&1
    fi
    slim_rootfs "$r"
    tar --numeric-owner -C "$r" -c . | podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'LABEL org.qwenfree.ci=base' \
        --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$r"
}

slim_rootfs() {  # ROOTFS: trim it the way debian:bookworm-slim is, and make apt usable
    local r=$1
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* \
        "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/log/*.log \
        "$r"/tmp/*
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
        >"$r/etc/dpkg/dpkg.cfg.d/slim"
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR" \
        >"$r/etc/apt/sources.list"
    echo 'deb http://deb.debian.org/debian-security bookworm-security main' \
        >>"$r/etc/apt/sources.list"
    rm -f "$r/etc/resolv.conf" "$r/etc/hostname"
    : >"$r/etc/resolv.conf"
    echo localhost >"$r/etc/hostname"
}

ensure_base_image() {  # this week's base: podman's store, else the cached tarball, else build
    local tarball=$CACHE/base-bookworm-$WEEK.tar.gz older
    if podman image exists "$BASE_IMAGE"; then
        echo "in podman's store, reused"
    elif [ -f "$tarball" ] && gunzip -c "$tarball" | podman load -q >/dev/null \
        && podman image exists "$BASE_IMAGE"; then  # podman 4.3 cannot load .gz itself
        echo "loaded from $tarball"
    elif build_base_image; then
        podman save "$BASE_IMAGE" | gzip -1 >"$tarball.tmp" && mv "$tarball.tmp" "$tarball"
        echo "built with debootstrap; saved to $tarball ($(du -h "$tarball" | cut -f1))"
    else
        # A mirror outage must not fail CI: an older week's base still checks our files.
        older=$(podman images --format '{{.Repository}}:{{.Tag}}' \
            --filter "reference=$BASE_REPO" | head -n 1)
        [ -n "$older" ] || skip "cannot build the base image: debootstrap failed (log above)"
        echo "WARNING: debootstrap failed; reusing $older"
        BASE_IMAGE=$older
        return
    fi
    # Drop earlier weeks' bases (their dependent images keep the layers they need).
    find "$CACHE" -maxdepth 1 -name 'base-bookworm-*.tar.gz' ! -name "${tarball##*/}" -delete
    podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$BASE_REPO" \
        | grep -vxF "$BASE_IMAGE" | xargs -r podman untag >/dev/null 2>&1 || true
}

# --------------------------------------------------------------------------------------------
step "preflight"
[ "${QWENFREE_SKIP_CONTAINERS:-0}" != 1 ] || skip "QWENFREE_SKIP_CONTAINERS=1"
[ "$(uname -s)" = Linux ] || skip "not Linux"
[ "$(id -u)" = 0 ] || skip "needs root (rootful podman, debootstrap)"
command -v python3 >/dev/null || skip "no python3 on the host"
mkdir -p "$CACHE"
trap cleanup EXIT

step "tools: podman, runc, debootstrap (apt)"
if ! command -v podman >/dev/null || ! command -v runc >/dev/null \
    || ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || skip "podman is not installed and there is no apt-get"
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends podman runc netavark aardvark-dns iptables conmon catatonit \
        debootstrap; } >"$CACHE/apt.log" 2>&1; then
        tail -5 "$CACHE/apt.log"
        skip "apt-get could not install podman (log above)"
    fi
fi
podman --version
export CONTAINERS_CONF=$ROOT/.ci/containers.conf
export BUILDAH_FORMAT=docker   # podman's default OCI format silently drops HEALTHCHECK

step "base image $BASE_IMAGE (stands in for python:3.11-slim)"
ensure_base_image
podman image inspect -f 'base image: {{.Size}} bytes' "$BASE_IMAGE"

step "can podman run containers here?"
out=$(nosd podman run --rm --network none "$BASE_IMAGE" true 2>&1) \
    || skip "podman cannot start a container on this machine: $out"
mirror_host=$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).hostname)' \
    "$MIRROR")
out=$(nosd podman run --rm "$BASE_IMAGE" python3 -c 'import socket, sys
for host, port in (("pypi.org", 443), (sys.argv[1], 80)):
    socket.create_connection((host, port), 10).close()' "$mirror_host" 2>&1) \
    || skip "containers cannot reach pypi.org or $mirror_host (the builds need them): $out"
echo yes

# --------------------------------------------------------------------------------------------
step "podman build (the Dockerfile as users build it, BASE_IMAGE=$BASE_IMAGE)"
s=$(date +%s)
build_app() { podman build --pull=never --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$APP_IMAGE" .; }
# One retry, for a download that failed half-way; the layer cache keeps what was done.
build_app || { echo "build failed; retrying once"; build_app; } || die "the image does not build"
echo "built in $(($(date +%s) - s))s"
size=$(podman image inspect -f '{{.Size}}' "$APP_IMAGE")
user=$(podman image inspect -f '{{.Config.User}}' "$APP_IMAGE")
health=$(podman image inspect -f '{{.Config.Healthcheck}}' "$APP_IMAGE")
echo "app image: $((size / 1000000)) MB ($size bytes), user=$user"
echo "healthcheck: $health"
case "$user" in "" | root | 0 | 0:*) die "the image has no non-root USER" ;; esac
case "$health" in "" | "<nil>") die "the image has no HEALTHCHECK" ;; esac

# --------------------------------------------------------------------------------------------
step "podman run: the fake chat.qwen.ai and the gateway on one network"
cleanup
podman network create "$NET" >/dev/null
nosd podman run -d --init --name "$FAKE" --network "$NET" --no-healthcheck \
    -v "$ROOT/.ci/slow_fake.py:/app/ci/slow_fake.py:ro" \
    "$APP_IMAGE" python ci/slow_fake.py --host 0.0.0.0 --port 9100 >/dev/null
PORT=$(free_port)
s=$(date +%s%N)
nosd podman run -d --name "$APP" --network "$NET" -p "127.0.0.1:$PORT:8000" \
    --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
    -e QWENFREE_UPSTREAM_URL="http://$FAKE:9100" -e QWENFREE_GRACEFUL_TIMEOUT="$GRACE" \
    "$APP_IMAGE" >/dev/null
wait_healthy "$APP"
echo "healthy $(( ($(date +%s%N) - s) / 1000000 )) ms after podman run (podman healthcheck run: 0)"
body=$(http_get "http://127.0.0.1:$PORT/healthz") || die "GET /healthz failed"
echo "GET /healthz -> $body"
# the homepage needs the package's templates and static files in the image
body=$(http_get "http://127.0.0.1:$PORT/") || die "GET / failed"
echo "GET / -> ${#body} characters"

uids=$(podman exec "$APP" sh -c 'for p in /proc/[0-9]*; do
    awk -v p="${p#/proc/}" "/^Uid:/ { print p \": \" \$2 }" "$p/status"; done' 2>/dev/null)
echo "processes (pid: uid):" "${uids//$'\n'/, }"
if grep -qE ': 0$' <<<"$uids" || [ -z "$uids" ]; then
    die "a process in the container runs as root"
fi

probe "http://127.0.0.1:$PORT" --prompt ci:slow --expect "$SLOW_TEXT" \
    || die "no complete stream through the container"

step "SIGTERM during a stream (graceful period ${GRACE}s)"
stop_ms=$CACHE/stop.ms
rm -f "$stop_ms"
probe "http://127.0.0.1:$PORT" --prompt ci:slow --expect "$SLOW_TEXT" --on-first \
    "bash -c 's=\$(date +%s%N); podman stop -t $((GRACE + 10)) $APP >/dev/null 2>&1; \
echo \$(( (\$(date +%s%N) - s) / 1000000 )) > $stop_ms'" \
    || die "the stream open at SIGTERM was cut or broken"
code=$(podman inspect -f '{{.State.ExitCode}}' "$APP")
echo "podman stop took $(cat "$stop_ms") ms, exit code $code"
[ "$code" = 0 ] || { podman logs "$APP" 2>&1 | tail -20; die "exit code $code after SIGTERM"; }
[ "$(cat "$stop_ms")" -lt $((GRACE * 1000)) ] || die "SIGTERM did not end it within ${GRACE}s"
if podman logs "$APP" 2>&1 | grep -q Traceback; then
    podman logs "$APP" 2>&1 | tail -30; die "traceback in the gateway's log"
fi
nosd podman rm "$APP" >/dev/null

# --------------------------------------------------------------------------------------------
step "run-docker.sh with DOCKER=podman"
# The fake also joins podman's default network, where run-docker.sh's container lives.
podman network connect podman "$FAKE"
fake_ip=$(podman inspect -f '{{(index .NetworkSettings.Networks "podman").IPAddress}}' "$FAKE")
PORT=$(free_port)
# NOFILE_LIMIT empty: no --ulimit, so containers.conf's limits apply (the script's 65536 is
# above this machine's hard limit, and any --ulimit resets podman's nproc to one above it too).
env DOCKER=podman HOST_PORT="$PORT" IMAGE_NAME="$RUN_IMAGE" CONTAINER_NAME="$RUN_NAME" \
    AUTO_BUILD=true MEMORY_LIMIT=300m MEMORY_SWAP=300m NOFILE_LIMIT= \
    BASE_IMAGE="$BASE_IMAGE" QWENFREE_UPSTREAM_URL="http://$fake_ip:9100" \
    ./run-docker.sh 2>&1 | { grep -v 'systemd connection' || true; } | tee "$CACHE/run-docker.log" \
    || die "run-docker.sh failed"
grep -q "^+ podman run -d" "$CACHE/run-docker.log" || die "run-docker.sh did not print its run"
grep -q "^+ podman build" "$CACHE/run-docker.log" || die "AUTO_BUILD=true did not build"
wait_healthy "$RUN_NAME"
got=$(podman inspect "$RUN_NAME" \
    -f '{{.ImageName}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}')
echo "image, memory, memory+swap: $got"
[ "$got" = "$RUN_IMAGE 314572800 314572800" ] || die "run-docker.sh ignored IMAGE_NAME/MEMORY_*"
probe "http://127.0.0.1:$PORT" --expect "Hello from the qwenfree fake upstream." \
    || die "no stream through the container run-docker.sh started"
nosd podman stop -t 30 "$RUN_NAME" >/dev/null
podman rm -f "$FAKE" >/dev/null
podman network rm -f "$NET" >/dev/null

# --------------------------------------------------------------------------------------------
step "docker-compose.yml with nginx (podman-compose, override .ci/compose.ci.yml)"
lock=$(cksum <"$ROOT/.ci/podman-compose.txt" | cut -d' ' -f1)
if [ ! -f "$CACHE/podman-compose/.lock-$lock" ]; then
    rm -rf "$CACHE/podman-compose"
    python3 -m venv "$CACHE/podman-compose" || skip "python3 -m venv failed (python3-venv?)"
    PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS='' "$CACHE/podman-compose/bin/pip" install -q \
        --disable-pip-version-check --require-hashes --only-binary :all: \
        -r "$ROOT/.ci/podman-compose.txt" || skip "could not install podman-compose from PyPI"
    touch "$CACHE/podman-compose/.lock-$lock"
fi
export HOST_PORT NGINX_PORT
HOST_PORT=$(free_port)
NGINX_PORT=$(free_port)
export QWENFREE_UPSTREAM_URL=http://fake:9100 QWENFREE_GRACEFUL_TIMEOUT=$GRACE
s=$(date +%s)
pc up -d --build || die "podman-compose up failed (or hung)"
wait_healthy "$(podman ps -q --filter "label=com.docker.compose.project=$PROJECT" \
    --filter "label=com.docker.compose.service=qwenfree")"
wait_http "http://127.0.0.1:$NGINX_PORT/healthz"
echo "compose up and healthy in $(($(date +%s) - s))s"
body=$(http_get "http://127.0.0.1:$NGINX_PORT/healthz") || die "GET /healthz via nginx failed"
echo "via nginx: GET /healthz -> $body"
# ci:stall sends "first", then nothing for 120 s: only an unbuffered path delivers it in time.
probe "http://127.0.0.1:$NGINX_PORT" --prompt ci:stall --first-only --first-within 10 --timeout 10 \
    || die "nginx held the stream back: no event before the upstream went quiet"
probe "http://127.0.0.1:$NGINX_PORT" --prompt ci:slow --expect "$SLOW_TEXT" \
    || die "no complete stream through nginx"
s=$(date +%s)
pc down >/dev/null || die "podman-compose down failed"
echo "compose down in $(($(date +%s) - s))s"

# Every image built here inherits the base's label. Drop our untagged ones (replaced builds,
# earlier weeks' bases, layer cache) made over a week ago, so the store cannot grow unbounded.
podman image prune -f --filter label=org.qwenfree.ci --filter until=168h >/dev/null || true

step "all container checks passed in $(($(date +%s) - T0))s"
