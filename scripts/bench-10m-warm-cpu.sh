#!/usr/bin/env bash
# CPU a warm GET costs on a data dir that `scripts/bench-10m-load.sh`
# filled: `lrs serve` started on it, every GET kind of `lrs bench` run twice
# to warm it (200 of each, concurrency 8, no single POSTs, so that no
# analytics pass runs beside), then ROUNDS more runs, each printing the
# server's CPU (ticks of 10 ms from /proc), the load generator's CPU and
# wall time, and each kind's p99 in ms (by id, verb, agent, activity,
# registration, related agents, related activities, newest, since/until,
# paging).
#
#   LRS_BIN=<build> scripts/bench-10m-warm-cpu.sh DIR
#
# ROUNDS (default 3), C (concurrency, default 8), LRS_BIN (default
# target/release/lrs). docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
. scripts/serve-data-dir.sh
dir=${1:?usage: scripts/bench-10m-warm-cpu.sh DIR}
bin=${LRS_BIN:-target/release/lrs}
serve_data_dir "$dir" 18600
args=(bench --endpoint "http://127.0.0.1:$port/xapi" --key bk --secret bs --statements 0 --queries 200
  --concurrency "${C:-8}" --single-posts 0 --seed 41)
"$bin" "${args[@]}" >/dev/null 2>&1
"$bin" "${args[@]}" >/dev/null 2>&1
for round in $(seq "${ROUNDS:-3}"); do
  before=$(awk '{print $14 + $15}' /proc/$pid/stat)
  /usr/bin/time -f "%U %S %e" -o "$work/time" "$bin" "${args[@]}" >"$work/run" 2>&1
  after=$(awk '{print $14 + $15}' /proc/$pid/stat)
  read -r user sys wall <"$work/time"
  p99=$(awk '/^(by |related|newest|since|paging)/ {printf "%s ", $(NF-1)}' "$work/run")
  echo "round $round: server CPU $((after - before)) ticks; load generator ${user} s user ${sys} s sys; wall ${wall} s; p99 ms: $p99"
done
