#!/usr/bin/env bash
# Forwarding throughput: N statements (default 100000) loaded into a fresh
# `lrs serve` with `lrs bench`, then one forwarder added (from the start,
# every statement, BATCH per delivery, default 500) to a second fresh
# `lrs serve`; prints how long until its status says every statement was
# delivered, and the rate. Release build (target/release/lrs).
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
source_port=$((18700 + RANDOM % 90)); target_port=$((18800 + RANDOM % 90))
start source $source_port sk ss
start target $target_port tk ts
target/release/lrs bench --endpoint http://127.0.0.1:$source_port/xapi --key sk --secret ss --statements "$N" \
  --batch 100 --concurrency 8 --queries 0 --single-posts 0 >/dev/null 2>&1
status() { curl -sf -H 'Authorization: Bearer bench-operator' http://127.0.0.1:$source_port/admin/tenants/default/forwarders/bench; }
started=$(date +%s.%N)
curl -sf -X POST -H 'Authorization: Bearer bench-operator' -d "{\"name\": \"bench\", \"batch_size\": $BATCH,
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
