#!/usr/bin/env bash
# Every GET kind of `lrs bench` on a data dir that `scripts/bench-10m-load.sh`
# filled, right after the load: the page cache dropped (when allowed), then
# `lrs serve` on it and `lrs bench` at concurrency 8 twice (cold, warm) and
# at concurrency 2, 200 GETs of each kind and 200 single POSTs, seed 7.
#
#   scripts/bench-10m-reads.sh DIR > OUT
#
# LRS_BIN (default target/release/lrs). docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/bench-10m-reads.sh DIR}
bin=${LRS_BIN:-target/release/lrs}
port=$((18300 + RANDOM % 90))
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "page cache not dropped (not allowed here): the first run is not cold"
LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn "$bin" serve --listen 127.0.0.1:$port --data-dir "$dir" >"$dir.serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
t0=$(date +%s.%N)
for _ in $(seq 18000); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
echo "healthz after $(echo "$(date +%s.%N) - $t0" | bc) s"
for run in cold8 warm8 warm2; do
  echo "== $run rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status)MB"
  "$bin" bench --endpoint http://127.0.0.1:$port/xapi --key bk --secret bs --statements 0 \
    --queries 200 --concurrency "${run#????}" --single-posts 200 --seed 7 2>&1
done
echo "== end rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status)MB"
