#!/usr/bin/env bash
# The service under hostile load with default settings: each case of benches/abuse.rs on a
# fresh server for ABUSE_SECS seconds (default 20), then all of them at once. Abusers connect
# from 127.0.0.2-9 (trickling uploads and sign-ins, idle connections, endless headers, stalled
# forms and PDFs, huge batches and batch ids) while, from 127.0.0.1, one client verifies a
# certificate and a signed-in clerk reads a submission. Prints per case what the abusers got,
# each well-behaved client's failures and p99, and the server's RSS at start, at its peak and
# after the abuse stops. The report is also kept in bench/out/.
#
#   bash bench/abuse.sh
#   ABUSE_SECS=60 bash bench/abuse.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export ABUSE_SECS="${ABUSE_SECS:-20}"
mkdir -p bench/out
out="bench/out/abuse-$(date -u +%Y%m%dT%H%M%SZ).txt"
timeout "$((ABUSE_SECS * 10 + 1800))" cargo bench --bench abuse 2>&1 | grep -v -E '(WARN|INFO)' | tee "$out"
echo "report: $out"
