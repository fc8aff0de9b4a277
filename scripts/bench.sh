#!/usr/bin/env bash
# Load benchmark: the service against its database's own ceiling (bench/run.py).
#
#   scripts/bench.sh [sqlite|postgres|both] [bench/run.py options...]
#
# Builds the release binary, then prints, per backend, req/s beside the ceiling's tps, their
# ratio, the service's CPU time per request, list latency by depth, peak RSS with 256
# connections and start-to-ready time. Needs wrk, and for PostgreSQL psql and pgbench with a
# server at --pg (default postgres://postgres@127.0.0.1:5432, trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:-both}
shift || true
for tool in wrk python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (Debian: apt-get install wrk)" >&2; exit 1; }
done
cargo build --release --locked
case $backend in
    sqlite | postgres) python3 bench/run.py --backend "$backend" "$@" ;;
    both)
        python3 bench/run.py --backend sqlite "$@"
        python3 bench/run.py --backend postgres "$@"
        ;;
    *) echo "usage: scripts/bench.sh [sqlite|postgres|both] [options]" >&2; exit 2 ;;
esac
