#!/usr/bin/env bash
# The service under hostile load with default settings, for ABUSE_SECS seconds (default 20):
# slow headers, stalled bodies on the public routes, large anonymous bodies and a deep
# multipart body, while a well-behaved client verifies a certificate. Prints what the abusers
# got, the well-behaved client's p50/p99 and the server's peak RSS (benches/abuse.rs). The
# report is also kept in bench/out/.
#
#   bash bench/abuse.sh
#   ABUSE_SECS=60 bash bench/abuse.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export ABUSE_SECS="${ABUSE_SECS:-20}"
mkdir -p bench/out
out="bench/out/abuse-$(date -u +%Y%m%dT%H%M%SZ).txt"
timeout "$((ABUSE_SECS + 1200))" cargo bench --bench abuse 2>&1 | grep -v -E '(WARN|INFO)' | tee "$out"
echo "report: $out"
