#!/usr/bin/env bash
# Build (if needed) and run the qwenfree image as a hardened, detached container.
#
#   ./run-docker.sh                               # build, then run on http://localhost:8000
#   HOST_PORT=9000 AUTO_BUILD=false ./run-docker.sh
#   DOCKER=podman ./run-docker.sh
#   QWENFREE_UPSTREAM_URL=... ./run-docker.sh     # every QWENFREE_* variable set here is passed on
#
# Overrides (environment), with defaults:
#   HOST_PORT=8000               host port published to the container's 8000
#   IMAGE_NAME=qwenfree:latest   image to build and run
#   CONTAINER_NAME=qwenfree      container name; an existing one is stopped and replaced
#   AUTO_BUILD=true              rebuild the image first (a missing image is always built)
#   BASE_IMAGE=                  base image for the build (empty: the Dockerfile's
#                                python:3.11-slim); pin one with python:3.11-slim@sha256:...
#   MEMORY_LIMIT=512m            memory limit
#   MEMORY_SWAP=$MEMORY_LIMIT    memory + swap limit (equal to MEMORY_LIMIT: no swap)
#   STOP_TIMEOUT=100             seconds `stop` waits after SIGTERM; above the app's graceful
#                                timeout (90 s) so open streams can finish
#   NOFILE_LIMIT=65536           open-files limit (each stream holds two sockets); empty: the
#                                engine's default limits
#   DOCKER=docker                container CLI: docker or podman
#
# The container runs with --rm (a stopped container is removed, so --restart cannot be used
# with it); for a service that restarts itself, use docker-compose.yml (restart: unless-stopped).
set -euo pipefail

HOST_PORT=${HOST_PORT:-8000}
IMAGE_NAME=${IMAGE_NAME:-qwenfree:latest}
CONTAINER_NAME=${CONTAINER_NAME:-qwenfree}
AUTO_BUILD=${AUTO_BUILD:-true}
BASE_IMAGE=${BASE_IMAGE:-}
MEMORY_LIMIT=${MEMORY_LIMIT:-512m}
MEMORY_SWAP=${MEMORY_SWAP:-$MEMORY_LIMIT}
STOP_TIMEOUT=${STOP_TIMEOUT:-100}
NOFILE_LIMIT=${NOFILE_LIMIT-65536}
DOCKER=${DOCKER:-docker}

cd "$(dirname "${BASH_SOURCE[0]}")"

run() {  # print a command (shell-quoted, to stderr like `set -x`), then run it
    { printf '+'; printf ' %q' "$@"; printf '\n'; } >&2
    "$@"
}

if ! command -v "$DOCKER" >/dev/null 2>&1; then
    echo "run-docker.sh: '$DOCKER' not found (set DOCKER=podman to use podman)" >&2
    exit 1
fi

if [ "$AUTO_BUILD" = true ] || ! "$DOCKER" image inspect "$IMAGE_NAME" >/dev/null 2>&1; then
    build=("$DOCKER" build -t "$IMAGE_NAME")
    # podman's default (OCI) image format has no HEALTHCHECK; ask for the Docker format.
    if [ "$(basename "$DOCKER")" = podman ]; then build+=(--format docker); fi
    if [ -n "$BASE_IMAGE" ]; then build+=(--build-arg "BASE_IMAGE=$BASE_IMAGE"); fi
    run "${build[@]}" .
fi

# Replace a container left from an earlier run (stop lets its streams finish first).
if "$DOCKER" container inspect "$CONTAINER_NAME" >/dev/null 2>&1; then
    run "$DOCKER" stop -t "$STOP_TIMEOUT" "$CONTAINER_NAME" >/dev/null || true
    # one started without --rm is still there after stop
    if "$DOCKER" container inspect "$CONTAINER_NAME" >/dev/null 2>&1; then
        run "$DOCKER" rm -f "$CONTAINER_NAME" >/dev/null
    fi
fi

# Pass on QWENFREE_* settings by name only (`-e NAME`), so values such as tokens never appear
# in this script's output or in the host's process list.
env_args=()
while IFS= read -r name; do
    env_args+=(-e "$name")
done < <(compgen -e | grep '^QWENFREE_' || true)
if [ -n "${TZ:-}" ]; then env_args+=(-e TZ); fi

run "$DOCKER" run -d --rm \
    --name "$CONTAINER_NAME" \
    -p "$HOST_PORT:8000" \
    --memory "$MEMORY_LIMIT" --memory-swap "$MEMORY_SWAP" \
    --read-only --tmpfs /tmp \
    --cap-drop ALL --security-opt no-new-privileges \
    ${NOFILE_LIMIT:+--ulimit "nofile=$NOFILE_LIMIT:$NOFILE_LIMIT"} \
    --stop-timeout "$STOP_TIMEOUT" \
    ${env_args[@]+"${env_args[@]}"} \
    "$IMAGE_NAME"

echo "qwenfree is starting on http://localhost:$HOST_PORT (logs: $DOCKER logs -f $CONTAINER_NAME;" \
     "stop: $DOCKER stop -t $STOP_TIMEOUT $CONTAINER_NAME)"
