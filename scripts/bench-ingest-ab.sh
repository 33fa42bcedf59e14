#!/usr/bin/env bash
# Ingest cost of a projection: the same `lrs bench` load against fresh `lrs serve`
# processes with and without it, alternating, same binary (target/release/lrs,
# or LRS_BIN: a build to compare).
#
#   scripts/bench-ingest-ab.sh analytics   # the analytics projection on / off
#   scripts/bench-ingest-ab.sh quality     # the quality projection with ADL's cmi5 profile
#                                          # loaded for every statement (report mode) / neither
#   scripts/bench-ingest-ab.sh forward     # one forwarder (every statement, batches of 500)
#                                          # delivering to a second lrs serve / none
#
# N (statements, default 200000), ROUNDS (3), SHAPE (extra lrs bench arguments),
# WARMUP (statements loaded before the measured N, not measured; default none).
# Prints statements/s per round and variant; with MEASURE=cpu (what
# scripts/bench-cpu-ab.sh sets) the server's CPU time per statement instead:
# user + system time of the `lrs serve` process (/proc/PID/stat) from before
# the ingest until it is idle again, so the analytics builder's work after the
# load counts, and the time the server waited for the cores does not.
# docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
what=${1:?usage: scripts/bench-ingest-ab.sh analytics|quality|forward}
N=${N:-200000}
bin=${LRS_BIN:-target/release/lrs}
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
profile=crates/xapi-profiles/tests/fixtures/cmi5-v1.0.jsonld
if [ "$what" = forward ]; then
  # The target every forwarder delivers to, for the whole run.
  target_dir=$(mktemp -d); target_port=$((18900 + RANDOM % 90))
  LRS_BOOTSTRAP_KEY=tk LRS_BOOTSTRAP_SECRET=ts LRS_LOG=warn LRS_ANALYTICS=false LRS_QUALITY=false \
    "$bin" serve --listen 127.0.0.1:$target_port --data-dir "$target_dir" >/dev/null 2>&1 &
  target_pid=$!
  trap 'kill $target_pid 2>/dev/null; rm -rf "$target_dir"' EXIT
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$target_port/healthz >/dev/null && break; sleep 0.1; done
fi
for round in $(seq "${ROUNDS:-3}"); do
  for with in true false; do
    dir=$(mktemp -d); port=$((18600 + RANDOM % 300))
    case $what in
      analytics) vars=(LRS_ANALYTICS=$with) ;;
      quality) vars=(LRS_ANALYTICS=false LRS_QUALITY=$with) ;;
      forward) vars=(LRS_FORWARDING=true) ;;
      *) echo "unknown: $what" >&2; exit 2 ;;
    esac
    env "${vars[@]}" LRS_OPERATOR_TOKEN=bench-operator LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn \
      "$bin" serve --listen 127.0.0.1:$port --data-dir "$dir" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
    if [ "$what" = quality ] && [ "$with" = true ] && [ -z "${NO_PROFILE:-}" ]; then
      curl -sf -X POST -H 'Authorization: Bearer bench-operator' --data-binary @$profile \
        "http://127.0.0.1:$port/admin/tenants/default/profiles?applies=all" >/dev/null
    fi
    if [ "$what" = forward ] && [ "$with" = true ]; then
      curl -sf -X POST -H 'Authorization: Bearer bench-operator' -d "{\"name\": \"bench\", \"batch_size\": 500,
        \"target\": {\"kind\": \"lrs\", \"endpoint\": \"http://127.0.0.1:$target_port/xapi\", \"key\": \"tk\", \"secret\": \"ts\"}}" \
        "http://127.0.0.1:$port/admin/tenants/default/forwarders" >/dev/null
    fi
    if [ -n "${WARMUP:-}" ]; then
      # A load before the measured one (other statements: another seed), so
      # that what is measured is a server that has grown its heap, caches
      # and memtables, as a running one has, not its first touch of them.
      target/release/lrs bench --endpoint http://127.0.0.1:$port/xapi --key bk --secret bs --statements "$WARMUP" \
        --batch 100 --concurrency 16 --queries 0 --single-posts 0 --seed 7 ${SHAPE:-} >/dev/null 2>&1
    fi
    before=$(cpu $pid)
    out=$(mktemp)
    target/release/lrs bench --endpoint http://127.0.0.1:$port/xapi --key bk --secret bs --statements "$N" \
      --batch 100 --concurrency 16 --queries 0 --single-posts 0 ${SHAPE:-} --json "$out" >/dev/null 2>&1
    if [ "${MEASURE:-}" = cpu ]; then
      # Until idle again: less than 2% of a core over 3 s (the idle polling
      # after that is counted too, the same in both variants).
      last=$(cpu $pid); sleep 3
      while [ $(( $(cpu $pid) - last )) -gt $(( ticks * 3 / 50 )) ]; do last=$(cpu $pid); sleep 3; done
      echo "round $round $what=$with: $(( ($(cpu $pid) - before) * 1000000 / ticks / N )) µs of server CPU per statement"
    else
      rate=$(python3 -c "import json;x=json.load(open('$out'))['results'][0];print(round(x['items_per_second']), 'statements/s, p50', round(x['p50_ms']), 'ms, p99', round(x['p99_ms']), 'ms, errors', x['errors'])")
      echo "round $round $what=$with: $rate"
    fi
    kill $pid; wait $pid 2>/dev/null || true; rm -rf "$dir" "$out"
  done
done
