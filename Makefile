# qwenfree developer commands. Needs only python3 (>= 3.11) and make: every target creates
# .venv on first use and installs the hash-locked requirements into it.
#
#   make serve    run the gateway (gunicorn + gevent) on $PORT (default 8000)
#   make test     install dev requirements and run pytest ($PYTEST_ARGS is passed on), then the
#                 core dialect files again against the fake's legacy (mid-2026) site
#   make structure  the package's shape: file sizes, import layers (tests/unit/test_structure.py)
#   make demo     serve against the bundled fake chat.qwen.ai, fully offline
#   make doctor   check, call by call, that the site works with your credential (paste its output)
#   make bench    measure the gateway against a fake upstream; writes bench/RESULTS.md
#   make help     list every target
#
# Environment variables pass through to the server (QWENFREE_UPSTREAM_URL, PORT, ...).

PY          ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
FAKE_PORT   ?= 9100
# The fake chat.qwen.ai's dialect for `make fake` / `make demo`: 2026-09 (the site as it is now)
# or legacy (mid-2026).
FAKE_MODE   ?= 2026-09
PYTEST_ARGS ?=
BENCH_ARGS  ?=
# Passed to `python -m qwenfree.doctor`, e.g. DOCTOR_ARGS="--media --json".
DOCTOR_ARGS ?=
# Extra pip-compile options for `make lock`, e.g. LOCK_ARGS=--upgrade to move every pin.
LOCK_ARGS   ?=
# pip-tools version used by `make lock` (in a throwaway venv, never in .venv).
PIP_TOOLS   ?= pip-tools==7.6.2

PIP_LOCK     := requirements-pip.txt
RUNTIME_LOCK := requirements.txt
DEV_LOCK     := requirements-dev.txt

# Hash-checked, wheels-only installs: a file whose hash is not in the lock is refused, and no
# package's setup code runs on this machine.
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check \
               --require-hashes --only-binary :all:

# Stamp files carry a checksum of the lock files, so an edited lock reinstalls automatically
# and an unchanged one makes every re-run instant.
checksum      = $(firstword $(shell cat $(1) 2>/dev/null | cksum))
PIP_STAMP     := $(VENV)/.installed-pip-$(call checksum,$(PIP_LOCK))
RUNTIME_STAMP := $(VENV)/.installed-runtime-$(call checksum,$(RUNTIME_LOCK))
DEV_STAMP     := $(VENV)/.installed-dev-$(call checksum,$(RUNTIME_LOCK) $(DEV_LOCK))

# Lint the Python paths that exist (bench/ is optional).
LINT_PATHS := $(wildcard qwenfree tests bench soak wsgi.py gunicorn.conf.py)

.DEFAULT_GOAL := help
.PHONY: help install dev serve fake demo doctor test structure lint lock clean bench bench-results \
        bench-smoke screenshots

help: ## list targets
	@awk -F':.*## ' '/^[a-z-]+:.*## / { printf "  make %-8s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

install: $(RUNTIME_STAMP) ## create .venv with the runtime requirements

dev: $(DEV_STAMP) ## create .venv with runtime + development requirements

serve: $(RUNTIME_STAMP) ## run the gateway: gunicorn -c gunicorn.conf.py wsgi:app
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

fake: $(RUNTIME_STAMP) ## run the fake chat.qwen.ai on 127.0.0.1:FAKE_PORT (default 9100)
	$(BIN)/python tests/fake_upstream.py --port $(FAKE_PORT) --mode $(FAKE_MODE)

# One shell runs both in the background and waits; however it ends (Ctrl-C, SIGTERM, the
# gateway exiting), the EXIT trap stops the gateway first (so it can still delete its upstream
# chats on the fake), then the fake. Ctrl-C, or a SIGTERM sent to the whole process group,
# reaches every process at once: the fake ignores INT, TERM and HUP so that it outlives the
# gateway, and the trap ends it with SIGKILL (it holds nothing). Ctrl-C is the normal way to
# stop the demo, so it ends the recipe with status 0. The EXIT trap ignores further signals: make
# passes its own SIGTERM on to the shell, and a second TERM arriving while the trap waits for the
# gateway would end the shell before it kills the fake (which then outlives the demo).
demo: $(RUNTIME_STAMP) ## serve against the fake upstream (offline try-out)
	@( trap '' INT TERM HUP; \
	   exec $(BIN)/python tests/fake_upstream.py --port $(FAKE_PORT) --mode $(FAKE_MODE) ) & \
	fake_pid=$$!; \
	QWENFREE_UPSTREAM_URL=http://127.0.0.1:$(FAKE_PORT) \
		$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app & serve_pid=$$!; \
	trap 'trap "" INT TERM HUP; kill $$serve_pid 2>/dev/null; wait $$serve_pid; \
		kill -KILL $$fake_pid 2>/dev/null; wait' EXIT; \
	trap 'exit 0' INT; trap 'exit 143' TERM; trap 'exit 129' HUP; \
	echo "demo: fake chat.qwen.ai on 127.0.0.1:$(FAKE_PORT) (pid $$fake_pid)," \
		"gateway pid $$serve_pid; Ctrl-C stops both"; \
	wait $$serve_pid

# Uses QWEN_TOKEN, or the configured accounts (QWENFREE_ACCOUNTS / _FILE), against the configured
# site (QWENFREE_UPSTREAM_URL, QWENFREE_AUTH_URL); the report hides tokens, cookies and ids.
doctor: $(RUNTIME_STAMP) ## check each call the gateway needs against the site (DOCTOR_ARGS=--media)
	$(BIN)/python -m qwenfree.doctor $(DOCTOR_ARGS)

# The suite runs against the fake as the site is now (2026-09); a second, short pass runs the
# core dialect files against the legacy (mid-2026) fake, so the older site's shapes (v1 sign-in,
# HTTP 4xx errors, v1 task status) stay covered. PYTEST_ARGS narrows the first pass and skips
# the second; QWENFREE_FAKE_MODE=legacy (read by tests/conftest.py only) runs any selection
# against the legacy fake: `QWENFREE_FAKE_MODE=legacy make test PYTEST_ARGS=tests/api/test_drawing.py`.
LEGACY_TESTS := tests/api/test_openai.py tests/api/test_anthropic.py tests/api/test_gemini.py tests/unit/test_tools.py

test: $(DEV_STAMP) ## run the test suite (PYTEST_ARGS="-k sse -x" to narrow)
	$(BIN)/python -m pytest $(PYTEST_ARGS)
ifeq ($(strip $(PYTEST_ARGS)),)
	QWENFREE_FAKE_MODE=legacy $(BIN)/python -m pytest $(LEGACY_TESTS)
endif

# Reads the source only (ast), in a second; `make test` runs it too. The rules and the layer
# list are at the top of tests/unit/test_structure.py.
structure: $(DEV_STAMP) ## check file sizes (<= 400 lines) and that imports only point down the layers
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_structure.py

screenshots: $(DEV_STAMP) ## retake docs/screenshots/ (every page, both themes and languages; needs chromium)
	$(BIN)/python -m tests.support.screenshots docs/screenshots

# Starts the bench fake and gunicorn itself (free ports); other load on the machine shows in the
# report's "other load" columns, so run it on a quiet machine. BENCH_ARGS is passed on.
bench: $(RUNTIME_STAMP) ## benchmark overhead, capacity, relay cost; rewrites bench/RESULTS.md (~5 min)
	$(BIN)/python -m bench $(BENCH_ARGS)

# All of bench/RESULTS.md in one run (~10 min): the benchmark, the side-by-side table against a
# baseline (BASELINE=<git ref>, default the commit before issue 17's work; or
# BENCH_ARGS="--compare URL" for a running gateway), the profile top-10 before/after.
bench-results: $(RUNTIME_STAMP) ## rewrite all of bench/RESULTS.md: benchmark + side by side + profiles (~10 min)
	$(BIN)/python -m bench --results $(if $(BASELINE),--baseline $(BASELINE)) $(BENCH_ARGS)

bench-smoke: $(RUNTIME_STAMP) ## the benchmark harness at tiny sizes, no thresholds (seconds; for CI)
	$(BIN)/python -m bench --smoke

lint: $(DEV_STAMP) ## ruff check + format check, bandit, repository hygiene checks
	@if [ -n "$(LINT_PATHS)" ]; then \
		set -x; $(BIN)/ruff check $(LINT_PATHS) && $(BIN)/ruff format --check $(LINT_PATHS); \
	fi
	@if [ -d qwenfree ]; then set -x; $(BIN)/bandit -q -c pyproject.toml -r qwenfree; fi
	bash .ci/hygiene.sh

# Locks are compiled by Python 3.11 (the image's Python: markers are evaluated for it) from
# PyPI only: the machine's pip config (extra indexes, find-links) is ignored so it cannot leak
# into the lock files. Existing pins are kept unless LOCK_ARGS=--upgrade. Extras stay in the
# pins (google-auth[requests]==…): pip before 23.3, which `python3 -m venv` still bundles on
# Debian 12, refuses an extras requirement that no pinned line names in --require-hashes mode.
lock: ## regenerate requirements.txt and requirements-dev.txt (hashed) with pip-tools
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
		|| { echo "make lock needs Python 3.11 (the image's); try: make lock PY=python3.11"; exit 1; }
	@set -e; tools=$$(mktemp -d); trap 'rm -rf "$$tools"' EXIT; \
	$(PY) -m venv "$$tools"; \
	"$$tools/bin/pip" install --quiet --disable-pip-version-check "$(PIP_TOOLS)"; \
	for name in requirements requirements-dev; do \
		echo "pip-compile $$name.in -> $$name.txt"; \
		PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_EXTRA_INDEX_URL= \
		"$$tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe \
			--no-emit-find-links --no-emit-index-url $(LOCK_ARGS) \
			--output-file "$$name.txt" "$$name.in"; \
	done

clean: ## remove .venv and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +

# --- the virtualenv ------------------------------------------------------------------------

$(VENV)/pyvenv.cfg:
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "qwenfree needs Python >= 3.11; try: make PY=python3.11 ..."; exit 1; }
	$(PY) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"; exit 1; }

# The venv's own pip is whatever the system bundles; replace it with the locked one first.
$(PIP_STAMP): $(VENV)/pyvenv.cfg
	rm -f $(VENV)/.installed-pip-*
	$(PIP_INSTALL) -r $(PIP_LOCK)
	touch $@

$(RUNTIME_STAMP): $(PIP_STAMP)
	rm -f $(VENV)/.installed-runtime-*
	$(PIP_INSTALL) -r $(RUNTIME_LOCK)
	touch $@

$(DEV_STAMP): $(RUNTIME_STAMP)
	rm -f $(VENV)/.installed-dev-*
	$(PIP_INSTALL) -r $(RUNTIME_LOCK) -r $(DEV_LOCK)
	touch $@
