#!/usr/bin/env bash
# Mixed load on the release build, loopback only, bounded in time: window checks, issuances
# and verifications together for LOAD_SECS seconds (default 60). Builds the release binary,
# starts it on a free port against a temporary data directory (benches/load.rs does that
# through tests/api/helpers.rs), prepares data, and prints per route: requests, req/s,
# p50/p99/max latency and errors. The report is also kept in bench/out/.
#
#   bash bench/load.sh                 # 60 s
#   LOAD_SECS=20 bash bench/load.sh    # shorter
#   LOAD_WINDOW=8 LOAD_ISSUE=8 LOAD_VERIFY=16 bash bench/load.sh   # workers per group
set -euo pipefail
cd "$(dirname "$0")/.."

export LOAD_SECS="${LOAD_SECS:-60}"
mkdir -p bench/out
out="bench/out/load-$(date -u +%Y%m%dT%H%M%SZ).txt"
# The load itself is bounded by LOAD_SECS; the margin covers the release build and set-up.
timeout "$((LOAD_SECS + 1200))" cargo bench --bench load 2>&1 | grep -v -E '(WARN|INFO)' | tee "$out"
echo "report: $out"
