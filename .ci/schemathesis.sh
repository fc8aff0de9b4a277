#!/usr/bin/env bash
# Schema fuzzing: schemathesis against the served OpenAPI document, authenticated.
#
#   .ci/schemathesis.sh
#
# Builds the binary, starts it on a fresh SQLite database on a free port, seeds an
# org, a site, a product, a site member and a few requests through the API, then
# runs schemathesis with every check, once as a platform+org admin and once as a
# site member. Any server error or any answer that contradicts the document fails
# the script. Needs python3 (with venv), curl and jq.
#
# Environment knobs:
#   SCHEMATHESIS_MAX_EXAMPLES  cases per operation and phase (default 60)
#   SCHEMATHESIS_SEED          fixed seed for a reproducible run (default: random)
#   SCHEMATHESIS_VENV          where the venv lives (default: target/schemathesis-venv)
#   SCHEMATHESIS_REPORT_DIR    keep JUnit reports there (default: none kept)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

# Verified here with this version; bump deliberately.
SCHEMATHESIS_VERSION=4.32.5
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-60}
VENV=${SCHEMATHESIS_VENV:-$ROOT/target/schemathesis-venv}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/schemathesis.XXXXXX")
SERVICE_PID=
cleanup() {
    if [[ -n "$SERVICE_PID" ]] && kill -0 "$SERVICE_PID" 2>/dev/null; then
        kill "$SERVICE_PID" 2>/dev/null || true
        wait "$SERVICE_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

step() {
    echo
    echo "==> $*"
}

step "schemathesis $SCHEMATHESIS_VERSION in $VENV"
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/schemathesis" --version

step "cargo build --locked"
cargo build --locked
# A private copy: a concurrent build must not swap the binary under the running service.
cp "${CARGO_TARGET_DIR:-$ROOT/target}/debug/access-requests" "$WORK/access-requests"
BIN=$WORK/access-requests

step "Start the service"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
export JWT_HS256_SECRET
JWT_HS256_SECRET=$(head -c 32 /dev/urandom | base64)
ADMIN_ID=admin-1
MEMBER_ID=member-1
(
    cd "$WORK"
    DATABASE_URL="$WORK/access-requests.db" \
    LISTEN_ADDR="127.0.0.1:$PORT" \
    PLATFORM_ADMINS="$ADMIN_ID" \
    RATE_LIMIT_CREATE_PER_MINUTE=0 \
    MAX_PENDING_PER_REQUESTER=0 \
    RUST_LOG=warn RUST_BACKTRACE=1 \
    exec "$BIN" serve
) >"$WORK/service.log" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 100); do
    if curl -sf "$BASE/readyz" >/dev/null; then
        break
    fi
    if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
        cat "$WORK/service.log" >&2
        echo "the service did not start" >&2
        exit 1
    fi
    sleep 0.1
done
curl -sSf "$BASE/readyz" >/dev/null
echo "serving on $BASE (pid $SERVICE_PID)"
# Schemathesis tests the served document; it must be the committed one.
if ! curl -sSf "$BASE/api-docs/openapi.json" | cmp -s - openapi/openapi.json; then
    echo "the served OpenAPI document differs from openapi/openapi.json;" \
        "regenerate it with: cargo run -q -- openapi > openapi/openapi.json" >&2
    exit 1
fi

step "Seed data through the API"
token() {
    "$BIN" token --sub "$1" --email "$2" --name "$3" --ttl-secs 7200
}
ADMIN=$(token "$ADMIN_ID" admin@example.com "Ada Admin")
MEMBER=$(token "$MEMBER_ID" member@example.com "Mia Member")
# api TOKEN METHOD PATH [BODY]: the response body on stdout; fails on a non-2xx answer.
api() {
    local args=(-sS --fail-with-body -X "$2" -H "Authorization: Bearer $1")
    if [[ $# -ge 4 ]]; then
        args+=(-H "Content-Type: application/json" -d "$4")
    fi
    curl "${args[@]}" "$BASE$3"
}
ORG=$(api "$ADMIN" POST /v1/orgs '{"name": "Example Org", "verified_domains": ["example.com"]}' | jq -er .id)
api "$ADMIN" PUT "/v1/orgs/$ORG/admins/$ADMIN_ID"
SITE=$(api "$ADMIN" POST "/v1/orgs/$ORG/sites" '{"name": "Acme", "url": "https://acme.example.com"}' | jq -er .id)
api "$ADMIN" PUT "/v1/sites/$SITE/rollout" '{"in_rollout": true}' >/dev/null
for product in jira-software confluence; do
    api "$ADMIN" PUT "/v1/sites/$SITE/products/$product" \
        "{\"name\": \"$product\", \"default_group\": \"$product-users\"}" >/dev/null
done
api "$ADMIN" PUT "/v1/sites/$SITE/users/$MEMBER_ID" \
    '{"email": "member@example.com", "display_name": "Mia Member", "role": "member"}' >/dev/null
# A pending request, an approved on-behalf one, a denied self request (which blocks
# its requester) and feedback, so that lists, reviews and audit events have content.
PENDING=$(api "$MEMBER" POST "/v1/sites/$SITE/access-requests" \
    '{"product_key": "jira-software", "reason": "I need the sprint board"}' | jq -er .id)
APPROVED=$(api "$MEMBER" POST "/v1/sites/$SITE/access-requests" \
    '{"product_key": "confluence", "subject": {"account_id": "guest-1", "email": "guest@example.org"}}' | jq -er .id)
GRANT=$(api "$ADMIN" POST "/v1/sites/$SITE/access-requests/$APPROVED/approve" '{}' | jq -er .grant_id)
OUTSIDER=$(token outsider-1 outsider@example.net "Otto Outsider")
DENIED=$(api "$OUTSIDER" POST "/v1/sites/$SITE/access-requests" '{"product_key": "confluence"}' | jq -er .id)
api "$ADMIN" POST "/v1/sites/$SITE/access-requests/$DENIED/deny" '{"message": "not now"}' >/dev/null
api "$ADMIN" POST "/v1/sites/$SITE/access-requests/feedback" '{"rating": 4, "comment": "handy"}' >/dev/null
echo "org $ORG, site $SITE, requests $PENDING (pending) $APPROVED (approved) $DENIED (denied), grant $GRANT"

# A real cursor: schemathesis cannot make one up (it is opaque), and a forged one is a
# documented 400.
CURSOR=$(api "$ADMIN" GET "/v1/sites/$SITE/audit-events?limit=1" | jq -er .next_cursor)

# Known ids are offered to the path parameters most of the time, so that the
# generated cases get past the 404s and into the handlers.
cat >"$WORK/schemathesis.toml" <<EOF
[cache]
directory = "$WORK/cache"

[dictionaries]
org_ids = { values = ["$ORG"] }
site_ids = { values = ["$SITE"] }
request_ids = { values = ["$PENDING", "$APPROVED", "$DENIED"] }
grant_ids = { values = ["$GRANT"] }
account_ids = { values = ["$MEMBER_ID", "guest-1", "outsider-1"] }
product_keys = { values = ["jira-software", "confluence"] }
cursors = { values = ["$CURSOR"] }

[parameters]
"path.org_id" = { dictionary = "org_ids", probability = 0.8 }
"path.site_id" = { dictionary = "site_ids", probability = 0.8 }
"path.request_id" = { dictionary = "request_ids", probability = 0.8 }
"path.grant_id" = { dictionary = "grant_ids", probability = 0.8 }
"path.account_id" = { dictionary = "account_ids", probability = 0.5 }
"path.product_key" = { dictionary = "product_keys", probability = 0.5 }
"query.cursor" = { dictionary = "cursors", probability = 1.0 }

[checks]
enabled = true

# The admin must not remove itself as org admin halfway through the run.
[[operations]]
include-operation-id = "remove_org_admin"
parameters = { "path.account_id" = "someone-else" }

# A schema-valid creation can still be a documented 422: the product key matches the
# pattern but the site has no such product (unknown_product), the asked duration is over
# the product's maximum (duration_too_long), or the on-behalf subject is unknown to the
# directory and no subject.email was given. None of this can be said in JSON Schema.
[[operations]]
include-operation-id = ["create_access_request", "upsert_site_user"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

# A well-formed If-Match that names another version is the documented 412
# precondition_failed; an end of access in the past or over the product's maximum is a
# documented 422 (the time it is checked against is now).
[[operations]]
include-operation-id = ["approve_access_request", "deny_access_request", "cancel_access_request", "update_grant_expiry"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "412", "422", "429"]

# A bulk call may not repeat an id, carry a message with approve or an end with deny, nor
# name an end in the past: documented 422s that JSON Schema cannot say.
[[operations]]
include-operation-id = ["decide_access_requests"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
EOF

# run_as NAME TOKEN: one full schemathesis run with that caller's token.
run_as() {
    local name=$1 bearer=$2
    step "schemathesis as $name"
    local extra=()
    if [[ -n "${SCHEMATHESIS_SEED:-}" ]]; then
        extra+=(--seed "$SCHEMATHESIS_SEED")
    fi
    if [[ -n "${SCHEMATHESIS_REPORT_DIR:-}" ]]; then
        mkdir -p "$SCHEMATHESIS_REPORT_DIR"
        extra+=(--report junit --report-junit-path "$SCHEMATHESIS_REPORT_DIR/schemathesis-$name.xml")
    fi
    # One worker: with several, hypothesis parses lambdas' source in parallel threads and
    # CPython 3.11 has failed that with "AST constructor recursion depth mismatch".
    # From $WORK: schemathesis and hypothesis keep state in the working directory.
    (
        cd "$WORK"
        "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run \
            "$BASE/api-docs/openapi.json" \
            --checks all \
            --header "Authorization: Bearer $bearer" \
            --max-examples "$MAX_EXAMPLES" \
            --workers 1 \
            --generation-database none \
            --no-color \
            "${extra[@]}"
    ) | tee "$WORK/run-$name.log"
}

# The member first: the admin's run deletes and re-roles site users.
status=0
run_as member "$MEMBER" || status=1
run_as admin "$ADMIN" || status=1

if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
    wait "$SERVICE_PID" && code=0 || code=$?
    SERVICE_PID=
    echo "the service died during the run (exit status $code); the end of its log:" >&2
    tail -n 40 "$WORK/service.log" >&2
    status=1
fi
if grep -q "request failed" "$WORK/service.log"; then
    step "Internal errors logged by the service"
    grep "request failed" "$WORK/service.log" | head -20
fi
step "Summary"
for name in member admin; do
    echo "$name: $(grep -E '^ +[0-9]+ generated' "$WORK/run-$name.log" | sed 's/^ *//' || echo 'no test cases')"
done
if [[ $status -ne 0 ]]; then
    echo "schemathesis found failures" >&2
fi
exit $status
