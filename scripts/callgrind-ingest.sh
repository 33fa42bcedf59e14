#!/usr/bin/env bash
# Instructions per statement of each part of the ingest, counted by
# callgrind (not timed, so the machine's noise does not enter): a fresh
# `lrs serve` under `valgrind --tool=callgrind`, collecting only inside the
# gateway's write, the projector's read-ahead and loop, the analytics
# builder, and the store's writes (fjall's own worker threads, which spin re-queuing compactions,
# are left out; none of these five runs inside another, as callgrind's
# toggles require), while `lrs bench` loads N statements.
#
#   scripts/callgrind-ingest.sh OUT            # writes OUT.callgrind, prints the parts
#   LRS_QUALITY=false scripts/callgrind-ingest.sh OUT
#
# N (statements, default 5000), CONCURRENCY (lrs bench's, default 4),
# LRS_BIN (default target/release/lrs), PLAN (an xAPI Profile file loaded
# for every statement, report mode). Other LRS_ variables pass to the server;
# analytics is off unless LRS_ANALYTICS=true. docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/callgrind-ingest.sh OUT}
bin=${LRS_BIN:-target/release/lrs}
n=${N:-5000}
dir=$(mktemp -d); port=$((18800 + RANDOM % 90))
LRS_ANALYTICS=${LRS_ANALYTICS:-false} LRS_OPERATOR_TOKEN=op LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn \
  LRS_VERDICT_DEADLINE_MS=600000 \
  valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$out.callgrind" \
  --toggle-collect='*Gateway::store_statements*' --toggle-collect='*ReadAhead::run*' \
  --toggle-collect='*Projector::run_until_error*' --toggle-collect='*EmbeddedStore::write_now*' \
  --toggle-collect='*RollupBuilder::run*' \
  "$bin" serve --listen 127.0.0.1:$port --data-dir "$dir" >"$out.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 600); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.5; done
if [ -n "${PLAN:-}" ]; then
  curl -sf -X POST -H 'Authorization: Bearer op' --data-binary @"$PLAN" \
    "http://127.0.0.1:$port/admin/tenants/default/profiles?applies=all" >/dev/null
fi
target/release/lrs bench --endpoint http://127.0.0.1:$port/xapi --key bk --secret bs --statements "$n" \
  --batch 100 --concurrency "${CONCURRENCY:-4}" --queries 0 --single-posts 0 --json "$out.bench.json" >/dev/null 2>&1
# Statements the server acknowledged (a batch the slowed server did not
# answer in time is not counted in the figures).
n=$(python3 -c "import json;x=json.load(open('$out.bench.json'))['results'][0];print($n - 100 * x['errors'])")
# The analytics builder applies the outbox after the load (a pass within
# 5 s, and slower under valgrind): it is given the time to.
[ "${LRS_ANALYTICS:-false}" = true ] && sleep "${SETTLE:-30}"
kill -INT $pid
# A server that does not stop within 5 minutes under valgrind: its counts
# so far are dumped (callgrind_control) and it is killed.
for _ in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 1; done
if kill -0 $pid 2>/dev/null; then
  callgrind_control -d $pid >/dev/null
  mv "$out.callgrind.1" "$out.callgrind"; kill -9 $pid
fi
wait $pid || true
callgrind_annotate --inclusive=yes "$out.callgrind" 2>/dev/null | python3 scripts/callgrind-parts.py "$n" statement \
  "collected (all parts)=PROGRAM TOTALS" \
  "gateway: store_statements=Gateway::store_statements" \
  "  plan check=StatementPlan::check" \
  "projector: read-ahead=ReadAhead::run" \
  "projector: loop=Projector::run_until_error" \
  "  quality projection=quality::Quality as lrs_core::projection::Downstream>::apply" \
  "  quality digest=quality::Quality as lrs_core::projection::Downstream>::digest" \
  "  analytics (projector)=analytics::Analytics as lrs_core::projection::Downstream>::apply" \
  "analytics builder=RollupBuilder::run" \
  "store writes (fjall)=EmbeddedStore::write_now" \
  "sha2 compression (software here)=sha2::sha256::compress256" | tee "$out.txt"
# (valgrind offers no SHA extensions: sha2 runs in software there; the CPU
# running lrs serve uses SHA-NI, several times fewer instructions.)
