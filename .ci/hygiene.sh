#!/usr/bin/env bash
# Cheap supply-chain checks over the repository's files (design.md §9).
#
# The project this one replaces shipped an obfuscated payload as one very long line pushed far
# to the right by hundreds of spaces, so a reviewer scrolling a diff never saw it. These checks
# make that kind of thing fail CI loudly:
#   1. no line longer than 200 characters in code/config files;
#   2. no run of 40 or more consecutive spaces/tabs in those files;
#   3. no eval( / exec( / compile( / __import__( / marshal.loads in the application code
#      (attribute calls such as re.compile( are fine; the bare builtins are not);
#   4. no Unicode bidirectional-control characters ("Trojan Source") in code/config files;
#   5. the lock files pin every package by hash and point at no other index or local path;
#   6. no encoded blobs in code/config files: a base64-like run of 120+ characters, or three
#      lines in a row each holding a run of 60+ (a long payload cut into short lines);
#   7. no minified or bundled code: *.min.js / *.min.css files, source maps, sourceMappingURL
#      comments, or dense lines (120+ characters with at most three spaces).
# tests/api/test_security.py plants a sample of each in a copy of the repository and checks that it
# fails here.
# Usage: .ci/hygiene.sh   (from anywhere; exits non-zero and prints each finding on failure)
set -euo pipefail
shopt -s lastpipe   # run `... | fail` in this shell, so its failure count sticks

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C.UTF-8   # count characters, not bytes (comments may hold Chinese text)

MAX_LINE=200
MAX_BLANK_RUN=40
MIN_BLOB=120       # base64-like characters in one run (a 1x1 PNG is under 100)
MIN_BLOB_LINE=60   # ... per line, three lines in a row
DENSE_LINE=120     # a line this long with at most three spaces is not hand-written code
failures=0

fail() {  # fail HEADING < findings   (no input = check passed)
    local heading=$1 findings
    findings=$(cat)
    if [ -n "$findings" ]; then
        printf 'hygiene: FAIL: %s\n%s\n\n' "$heading" "$findings" >&2
        failures=$((failures + 1))
    fi
}

# All files git knows about (tracked, plus untracked ones that are not ignored, so the check
# also works before `git add`); outside a git work tree, every file but tool directories.
list_files() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z --cached --others --exclude-standard
    else
        find . -type f \
            -not -path './.git/*' -not -path './.venv/*' -not -path '*/__pycache__/*' \
            -not -path './.pytest_cache/*' -not -path './.ruff_cache/*' -print0 \
            | sed -z 's|^\./||'
    fi
}

is_code_file() {  # code and config; never lock files or Markdown
    case "$1" in
        requirements*.txt | *.md) return 1 ;;
        *.py | *.pyi | *.sh | *.bash | *.js | *.mjs | *.html | *.css) return 0 ;;
        *.cfg | *.toml | *.ini | *.conf | *.yml | *.yaml) return 0 ;;
        Dockerfile | */Dockerfile | Dockerfile.* | Makefile | */Makefile) return 0 ;;
    esac
    # extension-less scripts such as .ci/run
    [ -f "$1" ] && head -c 2 -- "$1" 2>/dev/null | grep -q '^#!'
}

# grep, but "no match" (exit 1) is success here; real errors (exit 2) still stop the script.
scan() {
    local rc=0
    grep "$@" || rc=$?
    [ "$rc" -le 1 ] || { echo "hygiene: grep failed (exit $rc): grep $*" >&2; exit 2; }
}

all_files=()
code_files=()
while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue   # deleted in the work tree but still in the index
    all_files+=("$f")
    if is_code_file "$f"; then code_files+=("$f"); fi
done < <(list_files)

echo "hygiene: checking ${#code_files[@]} code/config files of ${#all_files[@]} files"

if [ ${#code_files[@]} -gt 0 ]; then
    # -a: treat every file as text; -H: always print the file name.
    scan -naHP "^.{$((MAX_LINE + 1))}" -- "${code_files[@]}" \
        | awk -F: '{ printf "  %s:%s: line longer than %d characters\n", $1, $2, '"$MAX_LINE"' }' \
        | fail "lines longer than $MAX_LINE characters"

    scan -naHP "[ \t]{$MAX_BLANK_RUN}" -- "${code_files[@]}" \
        | awk -F: '{ printf "  %s:%s: run of %d+ spaces/tabs\n", $1, $2, '"$MAX_BLANK_RUN"' }' \
        | fail "runs of $MAX_BLANK_RUN or more consecutive spaces/tabs"

    scan -naHP '[\x{202A}-\x{202E}\x{2066}-\x{2069}]' -- "${code_files[@]}" \
        | cut -d: -f1,2 | sed 's/^/  /' \
        | fail "Unicode bidirectional-control characters"

    scan -naHoP "[A-Za-z0-9+/]{$MIN_BLOB,}" -- "${code_files[@]}" \
        | awk -F: '{ printf "  %s:%s: base64-like run of %d characters\n", $1, $2, length($3) }' \
        | fail "encoded blobs (base64-like runs of $MIN_BLOB+ characters)"

    # file:line of every line holding a run of $MIN_BLOB_LINE+; three consecutive lines = a blob
    scan -naHoP "[A-Za-z0-9+/]{$MIN_BLOB_LINE,}" -- "${code_files[@]}" | cut -d: -f1,2 | uniq \
        | awk -F: '{ run = ($1 == file && $2 == line + 1) ? run + 1 : 1; file = $1; line = $2 }
                   run == 3 { printf "  %s:%d: base64-like text over several lines\n", file, line - 2 }' \
        | fail "encoded blobs split over consecutive lines"

    for f in "${code_files[@]}"; do
        case "$f" in *.min.js | *.min.css) echo "  $f: a minified file" ;; esac
    done | fail "minified files"
    scan -naHP "^(?=.{$DENSE_LINE})[^ ]*( [^ ]*){0,3}\$" -- "${code_files[@]}" \
        | cut -d: -f1,2 | sed "s/\$/: $DENSE_LINE+ characters with at most three spaces/; s/^/  /" \
        | fail "dense lines (minified or generated code)"
    scan -naHP 'sourceMappingURL[=]' -- "${code_files[@]}" \
        | cut -d: -f1,2 | sed 's/^/  /' \
        | fail "source-map references (bundled code)"
fi
for f in "${all_files[@]}"; do
    case "$f" in *.js.map | *.css.map) echo "  $f: a source map (bundled code)" ;; esac
done | fail "source maps"

# Dynamic code execution in the application itself (tests and tools are not deployed).
app_py=()
for f in "${all_files[@]}"; do
    case "$f" in
        qwenfree/*.py | wsgi.py | gunicorn.conf.py) app_py+=("$f") ;;
    esac
done
if [ ${#app_py[@]} -gt 0 ]; then
    scan -naHP '(^|[^.\w])(eval|exec|compile|__import__)\s*\(|\bbuiltins\.(eval|exec|compile|__import__)\b|\bmarshal\.loads?\b' \
        -- "${app_py[@]}" \
        | cut -c1-160 | sed 's/^/  /' \
        | fail "dynamic code execution (eval/exec/compile/__import__/marshal.loads) in app code"
fi

# Lock files: hashes present, nothing fetched from outside PyPI.
if [ ! -f requirements.txt ]; then
    echo "  requirements.txt is missing" | fail "lock file"
else
    grep -q -- '--hash=sha256:' requirements.txt \
        || echo "  requirements.txt has no --hash= pins (run: make lock)" | fail "lock file"
fi
for lock in requirements*.txt; do
    [ -f "$lock" ] || continue
    # every pinned requirement line must be `name==version` (or `name[extras]==version`) and
    # carry hashes
    awk '
        /^[A-Za-z0-9]/ {
            if ($0 !~ /^[A-Za-z0-9._-]+(\[[A-Za-z0-9._,-]+\])?==[^ ]+ \\$/) { printf "  %s:%d: not an exact hashed pin: %s\n", FILENAME, FNR, $0 }
            else { pending = FNR; name = $1 }
            next
        }
        pending && /--hash=sha256:/ { pending = 0 }
        pending && !/^ / { printf "  %s:%d: %s has no --hash\n", FILENAME, pending, name; pending = 0 }
        END { if (pending) printf "  %s:%d: %s has no --hash\n", FILENAME, pending, name }
    ' "$lock" | fail "unhashed requirements in $lock"
    # Comment lines are pip-compile's own notes ("... unsafe in a requirements file:").
    grep -v '^\s*#' "$lock" \
        | scan -nE '^\s*(-e|--editable|-i|--index-url|--extra-index-url|-f|--find-links|--trusted-host)\b|(git\+|file:|https?://)' \
        | sed "s|^|  $lock:|" \
        | fail "$lock points outside PyPI"
done

if [ "$failures" -gt 0 ]; then
    echo "hygiene: $failures check(s) failed" >&2
    exit 1
fi
echo "hygiene: ok"
