#!/usr/bin/env bash
# Where the server's CPU goes during an ingest: `perf record` (DWARF call
# graphs, 299 Hz) of a fresh `lrs serve` while `lrs bench` loads N statements
# and until the server is idle again (the analytics builder's work after the
# load counts), then the samples by part of the pipeline
# (scripts/profile-parts.py). Needs perf and a build with line tables:
#
#   CARGO_TARGET_DIR=target/prof CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p lrs
#   LRS_ANALYTICS=true  scripts/profile-ingest.sh /tmp/with
#   LRS_ANALYTICS=false scripts/profile-ingest.sh /tmp/without
#   scripts/profile-parts.py /tmp/with.txt /tmp/without.txt
#
# N (statements, default 100000); LRS_BIN (default target/prof/release/lrs);
# PLAN (an xAPI Profile file loaded for every statement, report mode).
# Other LRS_ and MIMALLOC_ variables pass to the server.
set -eu
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/profile-ingest.sh OUT (writes OUT.data and OUT.txt)}
bin=${LRS_BIN:-target/prof/release/lrs}
dir=$(mktemp -d); port=$((18700 + RANDOM % 90))
LRS_OPERATOR_TOKEN=op LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn \
  "$bin" serve --listen 127.0.0.1:$port --data-dir "$dir" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
if [ -n "${PLAN:-}" ]; then
  curl -sf -X POST -H 'Authorization: Bearer op' --data-binary @"$PLAN" \
    "http://127.0.0.1:$port/admin/tenants/default/profiles?applies=all" >/dev/null
fi
perf record -F 299 --call-graph dwarf,16384 -p $pid -o "$out.data" >/dev/null 2>&1 &
perf_pid=$!
"$bin" bench --endpoint http://127.0.0.1:$port/xapi --key bk --secret bs --statements "${N:-100000}" \
  --batch 100 --concurrency 16 --queries 0 --single-posts 0 >/dev/null 2>&1
prev=0
for i in $(seq 120); do
  c=$(awk '{print $14 + $15}' /proc/$pid/stat)
  [ $((c - prev)) -lt 5 ] && [ "$i" -gt 2 ] && break
  prev=$c; sleep 1
done
kill -INT $perf_pid; wait $perf_pid || true
perf script -i "$out.data" -F comm,ip,sym --no-inline >"$out.txt" 2>/dev/null
echo "wrote $out.data and $out.txt"
