from gevent import monkey
monkey.patch_all()

# gunicorn settings for qwenfree (read by `gunicorn -c gunicorn.conf.py wsgi:app`).
#
# The two lines above must stay first. gunicorn's gevent worker patches the standard library
# only after fork, but this file is executed in the arbiter before that; if anything here (or a
# preloaded app) imported ssl/urllib3 first, gevent would warn "Monkey-patching ssl after ssl
# has already been imported may lead to errors" and HTTPS calls can break. Patching before any
# other import removes the warning, even with --preload (design.md §8).
#
# Rules for this file: plain assignments read from the environment; import only the standard
# library. Never import qwenfree's app modules, flask, requests or ssl here: the app (and its
# requests.Session) must be created in each worker after fork.

import os  # deliberately after the monkey patch (E402 ignored in pyproject.toml)


def _env(name: str, default: str) -> str:
    """Return the environment variable `name`, or `default` when it is unset or empty."""
    return os.environ.get(name) or default


# Listen on all interfaces; the container publishes the port, nginx (if any) sits in front.
bind = "0.0.0.0:" + _env("PORT", "8000")

def _cores() -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota
    (`docker run --cpus`, compose `cpus:`), which the affinity does not show."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores or 1, max(1, -(-int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores or 1)


# One gevent worker holds many streams but uses one core: by default one worker per usable
# core. Accounts, leases, cooldowns, rate limits and keys live in the store, shared by every
# worker; per worker stay only caches (models, uploads, warm chats: QWENFREE_WARM_CHATS ready
# chats per key in each worker). WEB_CONCURRENCY=1 keeps a single worker.
workers = int(_env("WEB_CONCURRENCY", str(_cores())))
# gunicorn's gevent worker plus read deadlines for slow clients (QWENFREE_HEADER_TIMEOUT,
# QWENFREE_BODY_TIMEOUT) and JSON instead of HTML for gunicorn's own 400 pages. The arbiter
# imports only qwenfree/worker.py's gevent and gunicorn imports (qwenfree/__init__.py is light).
worker_class = "qwenfree.worker.Worker"
# Per-worker cap on simultaneous clients. Each proxied stream holds two sockets, so the
# container's nofile limit (compose ulimits) must be well above 2 x this.
worker_connections = int(_env("QWENFREE_WORKER_CONNECTIONS", "1000"))

# The app (and its upstream requests.Session) is built after fork, in each worker.
preload_app = False

# For async workers `timeout` is only the heartbeat: a worker that has not notified the arbiter
# for this long (a CPU loop that never yields) is killed. Long streams are not affected.
timeout = 30
# On SIGTERM, let open streams finish for up to this long before workers are killed. Keep the
# container stop timeout (compose stop_grace_period, `docker stop -t`) a few seconds larger.
graceful_timeout = int(_env("QWENFREE_GRACEFUL_TIMEOUT", "90"))
# Idle keep-alive seconds; above nginx's upstream keepalive_timeout (60 s in deploy/nginx.conf)
# so nginx, not gunicorn, closes idle pooled connections and never reuses a half-closed one.
keepalive = 75
# Never recycle workers: a restart cuts every stream in flight.
max_requests = 0

# Trust X-Forwarded-* only from these addresses (the reverse proxy). Comma-separated.
forwarded_allow_ips = _env("FORWARDED_ALLOW_IPS", "127.0.0.1")

# No gunicorn access log: the app writes its own JSON request log, and gunicorn's format would
# print query strings, which can carry caller keys (`?key=...`, Gemini style).
accesslog = None
errorlog = "-"
loglevel = _env("QWENFREE_LOG_LEVEL", "info").lower()

# gunicorn >= 25.1 opens a control socket for `gunicornc` by default, at
# $XDG_RUNTIME_DIR/gunicorn.ctl or else ~/.gunicorn/gunicorn.ctl. In the container the user has
# no writable home and the root filesystem is read-only: gunicorn 27.0.1 then logs
# "[ERROR] Control server error: [Errno 2] ..." at every start. We do not need the runtime
# controls, so it is off unless QWENFREE_CONTROL_SOCKET names a writable path (e.g. under /tmp).
_control_socket = os.environ.get("QWENFREE_CONTROL_SOCKET", "")
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket

# Several workers and Prometheus: when the start-up environment sets PROMETHEUS_MULTIPROC_DIR,
# every worker writes its metric values there and /metrics adds them up (qwenfree/metrics.py).
# Files of an earlier run would be counted too, so the arbiter empties the directory at start,
# and marks each worker that exits, so its live gauges (open streams) stop counting.
# prometheus_client is imported inside the hook only: nothing but the standard library loads
# in the arbiter before fork.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if workers > 1 and not _metrics_dir:
    # Several workers and no directory given: one of our own (under TMPDIR, the container's
    # tmpfs), set before the fork so every worker's prometheus_client finds it.
    import tempfile

    _metrics_dir = tempfile.mkdtemp(prefix="qwenfree-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server):  # noqa: ARG001 - gunicorn's hook signature
    """Start each run with an empty multiprocess metrics directory."""
    if _metrics_dir and os.path.isdir(_metrics_dir):
        for name in os.listdir(_metrics_dir):
            if name.endswith(".db"):
                os.remove(os.path.join(_metrics_dir, name))


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """Drop a dead worker's live gauges from /metrics."""
    if _metrics_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, _metrics_dir)
