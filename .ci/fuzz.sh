#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer + AddressSanitizer) for a bounded time.
#
#   .ci/fuzz.sh                          # every target, 30 s each
#   FUZZ_SECONDS=600 .ci/fuzz.sh config  # one target, longer
#
# Seeds (fuzz/seeds/<target>/, committed) are run first: valid bodies to start
# from, and every input that once crashed a target. The corpus grows in
# fuzz/corpus/ (not committed).
#
# Targets (fuzz/fuzz_targets/):
#   request_bodies  every request DTO and query string: parse, then field rules
#   domain_rules    the pure rules of src/domain and the list cursor
#   config          webhook secrets (parse_whsec) and whole environments
#
# cargo-fuzz needs nightly-only compiler flags; on a stable toolchain
# RUSTC_BOOTSTRAP=1 unlocks them. A crash leaves its input in
# fuzz/artifacts/<target>/ and fails the script; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz <target> <artifact>
#
# Environment knobs:
#   FUZZ_SECONDS     time per target (default 30)
#   FUZZ_TARGET_DIR  cargo target dir of the fuzz build (default fuzz/target)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

# Verified here with this version; bump deliberately.
CARGO_FUZZ_VERSION=0.13.2
SECONDS_PER_TARGET=${FUZZ_SECONDS:-30}
TARGET_DIR=${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
cargo fuzz --version
rustc --version

# The same options for build and run, so that `run` does not build again.
fuzz_opts=(--fuzz-dir fuzz --target-dir "$TARGET_DIR" --codegen-units 16)

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

echo "==> cargo fuzz build (${targets[*]})"
if [[ $# -gt 0 ]]; then
    for target in "${targets[@]}"; do
        cargo fuzz build "${fuzz_opts[@]}" "$target"
    done
else
    cargo fuzz build "${fuzz_opts[@]}"
fi

LOGS=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-logs.XXXXXX")
trap 'rm -rf "$LOGS"' EXIT

failed=()
summary=()
for target in "${targets[@]}"; do
    echo
    echo "==> fuzz $target for ${SECONDS_PER_TARGET}s"
    corpus=fuzz/corpus/$target
    mkdir -p "$corpus"
    dirs=("$corpus")
    if [[ -d fuzz/seeds/$target ]]; then
        dirs+=("fuzz/seeds/$target")
    fi
    log=$LOGS/$target.log
    if cargo fuzz run "${fuzz_opts[@]}" "$target" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result=FAILED
        failed+=("$target")
        grep -E "^(==[0-9]+==ERROR|thread '.*' panicked|SUMMARY)|panicked at|Test unit written|^artifact_prefix" -A3 "$log" | head -40 || true
    fi
    execs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$" | tail -n1 || true)
    coverage=$(grep -oE "cov: [0-9]+" "$log" | tail -n1 || true)
    summary+=("$(printf '%-16s %-7s %10s execs  %s' "$target" "$result" "${execs:-?}" "$coverage")")
    tail -n 3 "$log"
done

echo
echo "==> summary"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzzing found crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
