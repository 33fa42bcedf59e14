#!/usr/bin/env bash
# Runs the ADL LRS conformance suite against a fresh `lrs serve` (new data dir).
# The suite is not part of this repository and this script installs nothing:
# check it out to /tmp/lrs-conformance and run `npm install` there first
# (see docs/CONFORMANCE.md). Usage: scripts/conformance.sh [1.0.3|2.0.0] [OUTDIR]
set -euo pipefail
version=${1:-1.0.3}
outdir=${2:-target/conformance-$version}
runner=${CONFORMANCE_RUNNER:-../shared/tools/conformance-run.sh}
cd "$(dirname "$0")/.."
cargo build --release -p lrs
data=$(mktemp -d)
log=$(mktemp)
LRS_BOOTSTRAP_KEY=conformance LRS_BOOTSTRAP_SECRET=conformance-secret \
  target/release/lrs serve --listen 127.0.0.1:0 --data-dir "$data" >"$log" 2>"$data.err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$data" "$data.err" "$log"' EXIT
for _ in $(seq 100); do grep -q '^ENDPOINT=' "$log" && break; sleep 0.1; done
endpoint=$(sed -n 's/^ENDPOINT=//p' "$log")
[ -n "$endpoint" ] || { echo "lrs serve did not start" >&2; cat "$data.err" >&2; exit 2; }
"$runner" "$endpoint" conformance conformance-secret "$version" "$outdir"
