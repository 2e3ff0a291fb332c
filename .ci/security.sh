#!/usr/bin/env bash
# Security and supply-chain checks (design.md §9), run by CI after `make dev`:
#   1. bandit over qwenfree/: eval/exec, shell subprocesses, requests without a timeout, ...
#      Any finding fails.
#   2. pip-audit of both lock files, every file pinned by hash (--require-hashes), against
#      PyPI's vulnerability data. A known vulnerability fails (--strict: so does a package that
#      could not be audited). When that data cannot be reached from this machine, the step is
#      skipped with the reason printed: a network problem never fails CI.
#   3. a CycloneDX SBOM (JSON) of requirements.txt, the packages the image ships, written to
#      $SBOM_DIR/requirements.cdx.json (default sbom/, git-ignored); CI keeps it as an artifact.
# Usage: .ci/security.sh   (from anywhere; needs .venv from `make dev`)
#   SBOM_DIR=out/   write the SBOM elsewhere
#   AUDIT=skip      leave out pip-audit (offline work)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=${BIN:-.venv/bin}
SBOM_DIR=${SBOM_DIR:-sbom}
AUDIT=${AUDIT:-auto}
LOCKS=(requirements.txt requirements-dev.txt)
failures=0

step() { printf '\n-- security: %s\n' "$*"; }
failed() { echo "security: FAIL: $*" >&2; failures=$((failures + 1)); }

for tool in bandit pip-audit cyclonedx-py; do
    [ -x "$BIN/$tool" ] || { echo "security: $BIN/$tool is missing; run: make dev" >&2; exit 2; }
done

step "bandit -r qwenfree"
"$BIN/bandit" -q -c pyproject.toml -r qwenfree || failed "bandit reported findings in qwenfree/"

# pip-audit asks https://pypi.org/pypi/<name>/<version>/json for each pin. Probe that exact
# endpoint with the first pinned package, so "unreachable" is told apart from "vulnerable".
vulnerability_service_reason() {
    "$BIN/python" - "${LOCKS[0]}" <<'EOF'
import re, sys, urllib.error, urllib.request
pin = re.search(r"^([A-Za-z0-9._-]+)==([^ \\]+)", open(sys.argv[1]).read(), re.M)
url = f"https://pypi.org/pypi/{pin[1]}/{pin[2]}/json"
try:
    with urllib.request.urlopen(url, timeout=15) as r:
        r.read(1)
except urllib.error.HTTPError as exc:
    print(f"{url} answered HTTP {exc.code}")
except (OSError, ValueError) as exc:
    print(f"{url} is unreachable: {exc}")
EOF
}

step "pip-audit --require-hashes --strict ${LOCKS[*]}"
reason=""
[ "$AUDIT" = skip ] && reason="AUDIT=skip"
[ -n "$reason" ] || reason=$(vulnerability_service_reason)
if [ -n "$reason" ]; then
    echo "security: SKIPPED pip-audit: PyPI's vulnerability data is not available here ($reason)"
else
    args=(--strict --require-hashes --disable-pip --progress-spinner off --timeout 30)
    for lock in "${LOCKS[@]}"; do args+=(-r "$lock"); done
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    if ! "$BIN/pip-audit" "${args[@]}" >"$log" 2>&1; then
        cat "$log"
        # A connection that broke during the run is the network's fault, not a finding.
        if grep -qE 'ConnectionError|ConnectTimeout|ReadTimeout|Max retries exceeded|Temporary failure in name resolution|Name or service not known' "$log" \
            && ! grep -qiE 'known vulnerabilit' "$log"; then
            echo "security: SKIPPED pip-audit: the vulnerability service failed mid-run (network)"
        else
            failed "pip-audit found known vulnerabilities or could not audit a package"
        fi
    else
        cat "$log"
    fi
fi

step "CycloneDX SBOM of requirements.txt -> $SBOM_DIR/requirements.cdx.json"
mkdir -p "$SBOM_DIR"
if "$BIN/cyclonedx-py" requirements requirements.txt --output-reproducible --validate \
    --of JSON -o "$SBOM_DIR/requirements.cdx.json"; then
    "$BIN/python" - "$SBOM_DIR/requirements.cdx.json" requirements.txt <<'EOF' || failed "SBOM"
import json, re, sys
bom = json.load(open(sys.argv[1]))
pins = re.findall(r"^([A-Za-z0-9._-]+)==", open(sys.argv[2]).read(), re.M)
names = {c["name"].lower() for c in bom.get("components", [])}
missing = sorted(p for p in pins if p.lower() not in names)
assert bom["bomFormat"] == "CycloneDX" and not missing, f"SBOM misses {missing}"
print(f"security: SBOM lists {len(names)} components (CycloneDX {bom['specVersion']})")
EOF
else
    failed "cyclonedx-py could not build the SBOM"
fi

if [ "$failures" -gt 0 ]; then
    echo "security: $failures check(s) failed" >&2
    exit 1
fi
echo "security: ok"
