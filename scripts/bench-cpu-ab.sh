#!/usr/bin/env bash
# CPU cost of a projection per statement: the server's CPU time (user + system,
# from /proc/PID/stat) over the same `lrs bench` ingest, with and without it,
# alternating fresh `lrs serve` processes (same binary, target/release/lrs).
# Steadier than statements/s on a shared machine: it does not count the time
# the server waited for the cores.
#
#   scripts/bench-cpu-ab.sh analytics | quality     (as scripts/bench-ingest-ab.sh)
#
# N (statements, default 100000), ROUNDS (3), SHAPE (extra lrs bench arguments).
set -eu
cd "$(dirname "$0")/.."
what=${1:?usage: scripts/bench-cpu-ab.sh analytics|quality}
N=${N:-100000}
profile=crates/xapi-profiles/tests/fixtures/cmi5-v1.0.jsonld
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for round in $(seq "${ROUNDS:-3}"); do
  for with in true false; do
    dir=$(mktemp -d); port=$((18600 + RANDOM % 300))
    case $what in
      analytics) vars=(LRS_ANALYTICS=$with) ;;
      quality) vars=(LRS_ANALYTICS=false LRS_QUALITY=$with) ;;
      *) echo "unknown: $what" >&2; exit 2 ;;
    esac
    env "${vars[@]}" LRS_OPERATOR_TOKEN=bench-operator LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn \
      target/release/lrs serve --listen 127.0.0.1:$port --data-dir "$dir" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
    if [ "$what" = quality ] && [ "$with" = true ] && [ -z "${NO_PROFILE:-}" ]; then
      curl -sf -X POST -H 'Authorization: Bearer bench-operator' --data-binary @$profile \
        "http://127.0.0.1:$port/admin/tenants/default/profiles?applies=all" >/dev/null
    fi
    before=$(cpu $pid)
    target/release/lrs bench --endpoint http://127.0.0.1:$port/xapi --key bk --secret bs --statements "$N" \
      --batch 100 --concurrency 16 --queries 0 --single-posts 0 ${SHAPE:-} >/dev/null 2>&1
    # Until the server is idle again (the analytics builder drains after the
    # load): less than 2% of a core over 3 s. The idle polling after that is
    # counted too, the same in both variants but for the builder's.
    last=$(cpu $pid); sleep 3
    while [ $(( $(cpu $pid) - last )) -gt $(( ticks * 3 / 50 )) ]; do last=$(cpu $pid); sleep 3; done
    after=$(cpu $pid)
    echo "round $round $what=$with: $(( (after - before) * 1000000 / ticks / N )) µs of server CPU per statement"
    kill $pid; wait $pid 2>/dev/null || true; rm -rf "$dir"
  done
done
