# syntax=docker/dockerfile:1
# qwenfree container image.
#
#   docker build -t qwenfree:latest .
#   docker run --rm -p 8000:8000 qwenfree:latest
#
# Offline demo with the bundled fake chat.qwen.ai (stdlib only), from the same image:
#   docker network create qwenfree-demo
#   docker run --rm -d --init --network qwenfree-demo --name fake qwenfree:latest \
#       python tests/fake_upstream.py --host 0.0.0.0 --port 9100 [--mode 2026-09]
#   docker run --rm -p 8000:8000 --network qwenfree-demo \
#       -e QWENFREE_UPSTREAM_URL=http://fake:9100 qwenfree:latest
#
# BASE_IMAGE: both stages must use the same base (the venv's python is a symlink into it).
# Pin it by digest for reproducible builds:
#   --build-arg BASE_IMAGE=python:3.11-slim@sha256:<digest>
# CI (.ci/container.sh), which has no registry, builds on a locally made Debian bookworm base.
ARG BASE_IMAGE=python:3.11-slim

# ---- builder: resolve nothing, only install the hash-locked wheels into /opt/venv ----------
FROM ${BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
COPY requirements-pip.txt requirements.txt /tmp/
# --require-hashes: every file must match the lock; --only-binary: never run sdist build code.
# The locked pip first (the base's bundled pip may be too old for the lock), then the app's
# wheels; then drop pip and setuptools (~25 MB): nothing is installed at run time.
RUN /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements-pip.txt \
 && /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements.txt \
 && /opt/venv/bin/python -m pip uninstall --yes --quiet pip setuptools

# ---- runtime: the base plus the venv and the application, nothing else ---------------------
FROM ${BASE_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PORT=8000 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Fixed non-root UID so volume permissions and `--user` policies are predictable.
# /data holds the account store when the server keeps accounts (QWENFREE_API_KEYS set); the
# root filesystem may be read-only, so mount a volume there (docker-compose.yml does).
RUN groupadd --gid 10001 qwenfree \
 && useradd --uid 10001 --gid qwenfree --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin qwenfree \
 && install -d -o qwenfree -g qwenfree -m 0700 /data
ENV QWENFREE_DATA_DIR=/data

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Application files stay owned by root: the service can read but not modify its own code.
COPY gunicorn.conf.py wsgi.py ./
COPY qwenfree/ ./qwenfree/
COPY tests/fake_upstream.py ./tests/fake_upstream.py
COPY tests/fake/ ./tests/fake/

USER qwenfree
EXPOSE 8000

# /healthz is liveness only (no upstream I/O). Slim images have no curl: use the venv's Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/opt/venv/bin/python", "-c", \
       "import os, sys, urllib.request as r; p = os.environ.get('PORT') or '8000'; sys.exit(r.urlopen(f'http://127.0.0.1:{p}/healthz', timeout=4).status != 200)"]

# Exec form: gunicorn is PID 1 and receives SIGTERM itself (graceful_timeout in gunicorn.conf.py).
STOPSIGNAL SIGTERM
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
