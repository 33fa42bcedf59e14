#!/usr/bin/env bash
# Instructions per GET of each part of the read path, counted by callgrind
# (not timed, so the machine's noise does not enter): a fresh `lrs serve`
# under valgrind, not instrumented while `lrs bench` loads N statements, then
# instrumented while `lrs bench` times Q GETs of each kind (one-filter
# queries, related_*, newest, since/until, paging). Only the HTTP handlers
# are collected, and after the load every request is a GET.
#
#   scripts/callgrind-reads.sh OUT     # writes OUT.callgrind, prints the parts
#
# N (statements, default 50000), Q (GETs per kind, default 50), LRS_BIN
# (default target/release/lrs). docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/callgrind-reads.sh OUT}
bin=${LRS_BIN:-target/release/lrs}
n=${N:-50000}
dir=$(mktemp -d); port=$((18700 + RANDOM % 90))
LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn LRS_VERDICT_DEADLINE_MS=600000 \
  valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$out.callgrind" \
  --instr-atstart=no --collect-atstart=no \
  --toggle-collect='actix_web::handler::handler_service::{{closure}}::{{closure}}' \
  "$bin" serve --listen 127.0.0.1:$port --data-dir "$dir" >"$out.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 600); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.5; done
target/release/lrs bench --endpoint http://127.0.0.1:$port/xapi --key bk --secret bs --statements "$n" \
  --batch 100 --concurrency 4 --queries 0 --single-posts 0 >/dev/null 2>&1
# The projector and the store's flushes settle before the GETs are counted.
sleep 20
callgrind_control -i on $pid >/dev/null
target/release/lrs bench --endpoint http://127.0.0.1:$port/xapi --key bk --secret bs --statements 0 \
  --concurrency 2 --queries "${Q:-50}" --single-posts 0 --json "$out.bench.json" >"$out.bench.txt" 2>&1
kill -INT $pid
for _ in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 1; done
wait $pid || true
gets=$(python3 -c "import json;print(sum(r['requests'] for r in json.load(open('$out.bench.json'))['results'] if r['requests'] and not r['kind'].startswith(('ingest','single'))))")
echo "$gets GETs" | tee "$out.txt"
# (builds before 679a7d0 serialised in actix: HttpResponseBuilder::json)
callgrind_annotate --inclusive=yes "$out.callgrind" 2>/dev/null | python3 scripts/callgrind-parts.py "$gets" GET \
  "collected (all GETs)=PROGRAM TOTALS" \
  "query: find the page=QueryService::statements::" \
  "query: find the page=QueryService::find::" \
  "  open the seals=lrs_core::vault::open_with::" \
  "  parse the JSON=xapi::json::parse_json" \
  "  set stored=lrs_core::tables::set_stored" \
  "  answer from the bytes=lrs_core::tables::answer_bytes" \
  "  store scans=EmbeddedStore as lrs_core::ports::store::QueryStore>::scan::" \
  "  store point reads=EmbeddedStore as lrs_core::ports::store::QueryStore>::get::" \
  "  decode rows=StatementRow::decode" \
  "serialise the answer=serde_json::ser::to_vec" \
  "serialise the answer=HttpResponseBuilder::json" | tee -a "$out.txt"
