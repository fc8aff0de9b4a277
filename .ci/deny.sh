#!/usr/bin/env bash
# Dependency policy with cargo-deny (rules in deny.toml).
#
#   .ci/deny.sh
#
# Always: `cargo deny check licenses bans sources` (works offline). Advisories
# too, when the RustSec advisory database can be fetched; without network access
# to GitHub it cannot, and that check is skipped with a message.
set -euo pipefail

cd "$(dirname "$0")/.."

# Verified here with this version; bump deliberately.
CARGO_DENY_VERSION=0.20.2

if ! cargo deny --version >/dev/null 2>&1; then
    echo "==> cargo install cargo-deny $CARGO_DENY_VERSION (takes several minutes)"
    cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION"
fi
cargo deny --version

checks=(licenses bans sources)
if timeout 120 cargo deny fetch db >/dev/null 2>&1; then
    checks+=(advisories)
else
    echo "the RustSec advisory database cannot be fetched: skipping the advisories check"
fi

echo "==> cargo deny check ${checks[*]}"
cargo deny --locked check "${checks[@]}"
