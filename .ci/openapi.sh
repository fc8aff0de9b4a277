#!/usr/bin/env bash
# Checks that openapi/openapi.json works for integrators.
#
#   .ci/openapi.sh
#
# 1. Lint: Redocly CLI's `recommended` ruleset with no error and no warning, and
#    Spectral's `spectral:oas` with no error (its warnings are printed).
# 2. Clients generated from the document, type-checked, and run against the real
#    service (a fresh SQLite database on a free port):
#    - TypeScript: openapi-typescript types + openapi-fetch, `tsc` with `strict`
#      (the generated types included), the scenario compiled and run with Node.
#    - Python: openapi-python-client, `mypy --strict` over the generated package
#      and the scenario, the scenario run.
#    The scenario (.ci/clients/ts/scenario.mts, .ci/clients/python/scenario.py):
#    org, org admin, site in the rollout, product, site admin; a self request with
#    a reason; approved with no body at all; its grant read and revoked.
#
# Tools come from the npm registry and PyPI at the exact versions in
# .ci/clients/package-lock.json and .ci/clients/python/requirements.txt, installed
# into target/openapi-tools (reused while those files are unchanged). Generated
# clients stay in target/openapi-checks for a look after a failure. Every check
# runs, and the script fails when any of them failed; only a failed install or a
# service that does not start ends it at once. Needs node and npm, python3 (with
# venv), cargo, curl and jq.
#
# Environment knobs:
#   OPENAPI_TOOLS_DIR  where the tools live (default: target/openapi-tools)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
DOC=$ROOT/openapi/openapi.json
CLIENTS=$ROOT/.ci/clients
TOOLS=${OPENAPI_TOOLS_DIR:-$ROOT/target/openapi-tools}
OUT=$ROOT/target/openapi-checks
NODE_BIN=$TOOLS/node/node_modules/.bin
VENV=$TOOLS/venv

WORK=$(mktemp -d "${TMPDIR:-/tmp}/openapi-checks.XXXXXX")
SERVICE_PID=
PIP_PID=
cleanup() {
    for pid in "$SERVICE_PID" "$PIP_PID"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# Redocly: no update check, no telemetry (neither host is reachable from CI).
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_NOTIFICATIONS=true

step() {
    echo
    echo "==> $*"
}

now_ms() {
    date +%s%3N
}

# Results, in order, for the summary: "name|ok or FAILED|seconds|note", where the note
# is the first line that the step wrote to $NOTE (e.g. a problem count).
RESULTS=()
FAILED=0
NOTE=$WORK/note

# record NAME OUTCOME START_MS
record() {
    local secs
    secs=$(awk -v ms=$(($(now_ms) - $3)) 'BEGIN { printf "%.1f", ms / 1000 }')
    RESULTS+=("$1|$2|$secs|$(head -n 1 "$NOTE")")
    echo "--- $1: $2 (${secs} s)"
}

# prepare NAME COMMAND...: a step that the checks need; its failure ends the script.
prepare() {
    local name=$1 start
    shift
    step "$name"
    : >"$NOTE"
    start=$(now_ms)
    "$@"
    record "$name" ok "$start"
}

# check NAME COMMAND...: one check, in a subshell with `set -e` in force; a failure is
# recorded and the next check runs. CHECK_OK says how it went. Call it as a statement
# of its own, never in a condition: there bash ignores `set -e` in everything it calls.
CHECK_OK=0
check() {
    local name=$1 start status
    shift
    step "$name"
    : >"$NOTE"
    start=$(now_ms)
    set +e
    (
        set -e
        "$@"
    )
    status=$?
    set -e
    if [[ $status -eq 0 ]]; then
        CHECK_OK=1
        record "$name" ok "$start"
    else
        CHECK_OK=0
        FAILED=1
        record "$name" FAILED "$start"
    fi
}

# ---------------------------------------------------------------------------
# Tools

# stamp FILES...: a digest of the files that decide an installation.
stamp() {
    cat "$@" | sha256sum | cut -d' ' -f1
}

install_python_tools() {
    local want
    want=$(stamp "$CLIENTS/python/requirements.txt")
    if [[ "$(cat "$VENV/.installed" 2>/dev/null)" == "$want" ]]; then
        echo "Python tools: already installed in $VENV"
        return
    fi
    # `|| return`: this runs in the background, and in a condition below.
    rm -rf "$VENV"
    python3 -m venv "$VENV" || return
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input \
        -r "$CLIENTS/python/requirements.txt" || return
    echo "$want" >"$VENV/.installed"
    echo "Python tools: installed in $VENV"
}

install_node_tools() {
    local want
    want=$(stamp "$CLIENTS/package.json" "$CLIENTS/package-lock.json")
    if [[ "$(cat "$TOOLS/node/.installed" 2>/dev/null)" == "$want" ]]; then
        echo "Node tools: already installed in $TOOLS/node"
        return
    fi
    rm -rf "$TOOLS/node"
    mkdir -p "$TOOLS/node" || return
    cp "$CLIENTS/package.json" "$CLIENTS/package-lock.json" "$TOOLS/node/" || return
    (cd "$TOOLS/node" && npm ci --no-audit --no-fund --loglevel=error) || return
    echo "$want" >"$TOOLS/node/.installed"
    echo "Node tools: installed in $TOOLS/node"
}

install_tools() {
    mkdir -p "$TOOLS"
    # pip and npm in parallel: both mostly wait on the network.
    install_python_tools >"$WORK/pip.log" 2>&1 &
    PIP_PID=$!
    local node_status=0 pip_status=0
    install_node_tools || node_status=$?
    wait "$PIP_PID" || pip_status=$?
    PIP_PID=
    cat "$WORK/pip.log"
    if [[ $node_status -ne 0 || $pip_status -ne 0 ]]; then
        echo "installing the tools failed (npm: $node_status, pip: $pip_status)" >&2
        return 1
    fi
    echo "node $(node --version), npm $(npm --version), $(python3 --version)"
    echo "@redocly/cli $("$NODE_BIN/redocly" --version 2>/dev/null)"
    echo "@stoplight/spectral-cli $("$NODE_BIN/spectral" --version)"
    echo "openapi-typescript $("$NODE_BIN/openapi-typescript" --version)"
    echo "openapi-fetch $(jq -r .version "$TOOLS/node/node_modules/openapi-fetch/package.json")"
    echo "typescript $("$NODE_BIN/tsc" --version | sed 's/^Version //')"
    "$VENV/bin/openapi-python-client" --version
    "$VENV/bin/mypy" --version
}

# ---------------------------------------------------------------------------
# Lint

lint_redocly() {
    local report=$WORK/redocly.json status=0
    "$NODE_BIN/redocly" lint --extends recommended --format json "$DOC" >"$report" 2>"$WORK/redocly.err" || status=$?
    local errors warnings
    errors=$(jq -e .totals.errors "$report") || {
        cat "$WORK/redocly.err" "$report" >&2
        return 1
    }
    warnings=$(jq -e .totals.warnings "$report")
    echo "$errors errors, $warnings warnings" >"$NOTE"
    echo "Redocly recommended: $errors errors, $warnings warnings"
    if [[ $status -ne 0 || $errors -ne 0 || $warnings -ne 0 ]]; then
        # Again, for people: each problem with its place in the document.
        "$NODE_BIN/redocly" lint --extends recommended --format codeframe "$DOC" || true
        return 1
    fi
}

lint_spectral() {
    local report=$WORK/spectral.json status=0
    "$NODE_BIN/spectral" lint --ruleset "$CLIENTS/.spectral.yaml" --fail-severity error \
        --format stylish --format json --output.json "$report" "$DOC" || status=$?
    # Severities: 0 error, 1 warning, 2 information, 3 hint.
    local errors warnings
    errors=$(jq -e '[.[] | select(.severity == 0)] | length' "$report") || return 1
    warnings=$(jq -e '[.[] | select(.severity == 1)] | length' "$report")
    echo "$errors errors, $warnings warnings" >"$NOTE"
    [[ $status -eq 0 && $errors -eq 0 ]]
}

# ---------------------------------------------------------------------------
# Generated clients

generate_typescript() {
    rm -rf "$OUT/ts"
    mkdir -p "$OUT/ts"
    cp "$CLIENTS/ts/scenario.mts" "$CLIENTS/ts/tsconfig.json" "$OUT/ts/"
    ln -s "$TOOLS/node/node_modules" "$OUT/ts/node_modules"
    # From $OUT/ts: openapi-typescript reads a redocly.yaml in the working directory.
    (cd "$OUT/ts" && "$NODE_BIN/openapi-typescript" "$DOC" --output schema.d.ts)
    echo "$(wc -l <"$OUT/ts/schema.d.ts") lines of types" >"$NOTE"
}

typecheck_typescript() {
    # strict, and skipLibCheck off so that the generated schema.d.ts is checked too;
    # noEmitOnError: the scenario is compiled to JavaScript only when it all type-checks.
    # --listFiles for the count in the summary; tsc's errors are the other lines.
    local status=0
    (cd "$OUT/ts" && "$NODE_BIN/tsc" --project tsconfig.json --listFiles) >"$WORK/tsc.log" || status=$?
    grep -v '^/' "$WORK/tsc.log" || true
    echo "$(grep -c '^/' "$WORK/tsc.log") files type-checked" >"$NOTE"
    return "$status"
}

generate_python() {
    rm -rf "$OUT/python"
    mkdir -p "$OUT/python"
    cp "$CLIENTS/python/scenario.py" "$CLIENTS/python/mypy.ini" "$OUT/python/"
    # --fail-on-warning: a schema the generator skips is a failure, not a missing
    # model. The generator formats its output with ruff from the venv's PATH.
    (cd "$OUT/python" && PATH="$VENV/bin:$PATH" "$VENV/bin/openapi-python-client" generate \
        --path "$DOC" --meta none --output-path access_requests_client --fail-on-warning)
    echo "$(find "$OUT/python/access_requests_client" -name '*.py' | wc -l) modules" >"$NOTE"
}

typecheck_python() {
    local status=0
    (cd "$OUT/python" && "$VENV/bin/mypy" --config-file mypy.ini access_requests_client scenario.py) |
        tee "$WORK/mypy.log" || status=$?
    tail -n 1 "$WORK/mypy.log" >"$NOTE"
    return "$status"
}

# ---------------------------------------------------------------------------
# The service

start_service() {
    cargo build --locked
    # A private copy: a concurrent build must not swap the binary under the running service.
    cp "${CARGO_TARGET_DIR:-$ROOT/target}/debug/access-requests" "$WORK/access-requests"
    BIN=$WORK/access-requests
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    BASE_URL=http://127.0.0.1:$port
    JWT_HS256_SECRET=$(head -c 32 /dev/urandom | base64)
    export JWT_HS256_SECRET BASE_URL
    PLATFORM_ADMIN_ID=platform-admin-1
    (
        cd "$WORK"
        DATABASE_URL="$WORK/access-requests.db" \
        LISTEN_ADDR="127.0.0.1:$port" \
        PLATFORM_ADMINS="$PLATFORM_ADMIN_ID" \
        RUST_LOG=warn RUST_BACKTRACE=1 \
        exec "$BIN" serve
    ) >"$WORK/service.log" 2>&1 &
    SERVICE_PID=$!
    for _ in $(seq 1 100); do
        if curl -sf "$BASE_URL/readyz" >/dev/null; then
            break
        fi
        if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
            cat "$WORK/service.log" >&2
            echo "the service did not start" >&2
            return 1
        fi
        sleep 0.1
    done
    curl -sSf "$BASE_URL/readyz" >/dev/null
    echo "serving on $BASE_URL (pid $SERVICE_PID)"

    # The scenario's callers; only the platform admin has a role before it starts.
    token() {
        "$BIN" token --sub "$1" --email "$2" --name "$3" --ttl-secs 3600
    }
    export PLATFORM_ADMIN_ID ORG_ADMIN_ID=org-admin-1 SITE_ADMIN_ID=site-admin-1 REQUESTER_ID=requester-1
    PLATFORM_ADMIN_TOKEN=$(token "$PLATFORM_ADMIN_ID" platform-admin@example.com "Pat Platform")
    ORG_ADMIN_TOKEN=$(token "$ORG_ADMIN_ID" org-admin@example.com "Olga Org")
    SITE_ADMIN_TOKEN=$(token "$SITE_ADMIN_ID" site-admin@example.com "Sita Admin")
    REQUESTER_TOKEN=$(token "$REQUESTER_ID" requester@example.net "Rui Requester")
    export PLATFORM_ADMIN_TOKEN ORG_ADMIN_TOKEN SITE_ADMIN_TOKEN REQUESTER_TOKEN
    echo "$BASE_URL" >"$NOTE"
}

# The clients come from the committed document; it must be what the binary serves.
served_document_matches() {
    curl -sSf "$BASE_URL/api-docs/openapi.json" >"$WORK/served.json"
    if ! cmp -s "$WORK/served.json" "$DOC"; then
        echo "the served OpenAPI document differs from openapi/openapi.json;" \
            "regenerate it with: cargo run -q -- openapi > openapi/openapi.json" >&2
        return 1
    fi
    echo "identical" >"$NOTE"
}

# run_scenario NAME COMMAND...: one scenario against the service; its last line is the note.
run_scenario() {
    local name=$1 status=0
    shift
    (RUN_ID=$name "$@") | tee "$WORK/scenario-$name.log" || status=$?
    echo "$(grep -c '^ok ' "$WORK/scenario-$name.log" || true) calls with the expected status" >"$NOTE"
    return "$status"
}

# ---------------------------------------------------------------------------

prepare "Install the tools" install_tools
check "Redocly lint (recommended)" lint_redocly
check "Spectral lint (spectral:oas)" lint_spectral

check "TypeScript: generate types (openapi-typescript)" generate_typescript
if [[ $CHECK_OK -eq 1 ]]; then
    check "TypeScript: tsc --strict (types + scenario)" typecheck_typescript
fi
ts_ready=$CHECK_OK
check "Python: generate the client (openapi-python-client)" generate_python
if [[ $CHECK_OK -eq 1 ]]; then
    check "Python: mypy --strict (package + scenario)" typecheck_python
fi
py_ready=$CHECK_OK

if [[ $ts_ready -eq 1 || $py_ready -eq 1 ]]; then
    prepare "Start the service" start_service
    check "The service serves openapi/openapi.json" served_document_matches
    if [[ $ts_ready -eq 1 ]]; then
        check "TypeScript: scenario against the service" run_scenario ts node "$OUT/ts/out/scenario.mjs"
    fi
    if [[ $py_ready -eq 1 ]]; then
        check "Python: scenario against the service" \
            run_scenario py env -C "$OUT/python" "$VENV/bin/python" scenario.py
    fi
    if grep -q "request failed" "$WORK/service.log"; then
        step "Internal errors logged by the service"
        grep "request failed" "$WORK/service.log" | head -20
        FAILED=1
    fi
fi

step "Summary"
for result in "${RESULTS[@]}"; do
    IFS='|' read -r name outcome secs note <<<"$result"
    printf '%-7s %6s s  %-52s %s\n' "$outcome" "$secs" "$name" "$note"
done
if [[ $FAILED -ne 0 ]]; then
    echo "the OpenAPI document checks failed" >&2
    exit 1
fi
echo "the OpenAPI document checks passed"
