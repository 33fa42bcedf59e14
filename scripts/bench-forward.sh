#!/usr/bin/env bash
# Forwarding throughput: N statements (default 100000) loaded into a fresh
# `lrs serve` with `lrs bench`, then one forwarder added (from the start,
# every statement, BATCH per delivery, default 500) to a second fresh
# `lrs serve`; prints how long until its status says every statement was
# delivered, and the rate. Release build (target/release/lrs).
#
# With SOURCE_PORT (an `lrs serve` already running on a large data dir, with
# operator token OPERATOR, default bench-operator), nothing is loaded: the
# forwarder is added there from the start with FILTER (a JSON filter, e.g.
# '{"verb": "http://adlnet.gov/expapi/verbs/failed"}') and N is the number of
# statements it must deliver (those the filter matches).
# docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
N=${N:-100000}
BATCH=${BATCH:-500}
dirs=()
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "${dirs[@]}"' EXIT
start() { # name port key secret
  local dir; dir=$(mktemp -d); dirs+=("$dir")
  LRS_OPERATOR_TOKEN=bench-operator LRS_BOOTSTRAP_KEY=$3 LRS_BOOTSTRAP_SECRET=$4 LRS_LOG=warn \
    target/release/lrs serve --listen 127.0.0.1:$2 --data-dir "$dir" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$2/healthz >/dev/null && break; sleep 0.1; done
}
target_port=$((18800 + RANDOM % 90))
operator=${OPERATOR:-bench-operator}
filter=${FILTER:-"{}"}
if [ -n "${SOURCE_PORT:-}" ]; then
  source_port=$SOURCE_PORT
else
  source_port=$((18700 + RANDOM % 90))
  start source $source_port sk ss
fi
start target $target_port tk ts
if [ -z "${SOURCE_PORT:-}" ]; then
  target/release/lrs bench --endpoint http://127.0.0.1:$source_port/xapi --key sk --secret ss --statements "$N" \
    --batch 100 --concurrency 8 --queries 0 --single-posts 0 >/dev/null 2>&1
fi
status() { curl -sf -H "Authorization: Bearer $operator" http://127.0.0.1:$source_port/admin/tenants/default/forwarders/bench; }
started=$(date +%s.%N)
curl -sf -X POST -H "Authorization: Bearer $operator" -d "{\"name\": \"bench\", \"batch_size\": $BATCH, \"filter\": $filter,
  \"target\": {\"kind\": \"lrs\", \"endpoint\": \"http://127.0.0.1:$target_port/xapi\", \"key\": \"tk\", \"secret\": \"ts\"}}" \
  http://127.0.0.1:$source_port/admin/tenants/default/forwarders >/dev/null
while :; do
  delivered=$(status | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["delivered"])')
  [ "$delivered" -ge "$N" ] && break
  sleep 0.2
done
ended=$(date +%s.%N)
python3 -c "t=$ended-$started; print(f'forwarded $N statements in batches of $BATCH in {t:.1f} s: {$N/t:,.0f} statements/s')"
status | python3 -c 'import json,sys; s=json.load(sys.stdin)["status"]; print("status:", {k: s[k] for k in ("delivered","dead_lettered","failed_attempts","pending")})'
if [ -n "${SOURCE_PORT:-}" ]; then
  curl -sf -X DELETE -H "Authorization: Bearer $operator" \
    http://127.0.0.1:$source_port/admin/tenants/default/forwarders/bench >/dev/null
fi
