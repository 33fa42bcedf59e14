#!/usr/bin/env bash
# Every GET kind of `lrs bench` on a data dir that `scripts/bench-10m-load.sh`
# filled, right after the load: the page cache dropped (when allowed), then
# `lrs serve` on it and `lrs bench` at concurrency 8 twice (cold, warm) and
# at concurrency 2, 200 GETs of each kind and 200 single POSTs, seed 7.
# After each run it prints what the server read: read calls, bytes the disk
# served (`read_bytes` of /proc/PID/io), and the analytics warm-up thread's
# share of both.
#
#   scripts/bench-10m-reads.sh DIR > OUT
#
# LRS_BIN (default target/release/lrs); SEED (default 7); KEEP_PAGE_CACHE=1
# restarts the server without dropping the page cache, so the first run is
# the first after a restart of the process, not of the machine (run it after
# a run with another SEED, so that the pages it asks for were not all read
# before). docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/bench-10m-reads.sh DIR}
bin=${LRS_BIN:-target/release/lrs}
port=$((18300 + RANDOM % 90))
seed=${SEED:-7}
if [ "${KEEP_PAGE_CACHE:-0}" = 1 ]; then
  echo "page cache kept: the first run is the first after a restart of the process"
else
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "page cache not dropped (not allowed here): the first run is not cold"
fi
LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn "$bin" serve --listen 127.0.0.1:$port --data-dir "$dir" >"$dir.serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
t0=$(date +%s.%N)
for _ in $(seq 18000); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
echo "healthz after $(echo "$(date +%s.%N) - $t0" | bc) s"
# Read calls and bytes from the disk so far: the whole process, then the
# analytics warm-up thread ("- -" once it has ended).
reads() {
  local warm="- -"
  awk '/^syscr|^read_bytes/{printf "%s ", $2}' /proc/$pid/io
  for task in /proc/$pid/task/*; do
    [ "$(cat "$task/comm" 2>/dev/null)" = lrs-analytics-w ] && warm=$(awk '/^syscr|^read_bytes/{printf "%s ", $2}' "$task/io")
  done
  echo "$warm"
}
for run in cold8 warm8 warm2; do
  echo "== $run rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status)MB"
  before=$(reads)
  "$bin" bench --endpoint http://127.0.0.1:$port/xapi --key bk --secret bs --statements 0 \
    --queries 200 --concurrency "${run#????}" --single-posts 200 --seed "$seed" 2>&1
  # shellcheck disable=SC2086
  set -- $before $(reads)
  warm="the analytics warm-up had ended"
  [ "$3" != - ] && [ "$7" != - ] && warm="of them the analytics warm-up $(( $7 - $3 )) calls, $(( ($8 - $4) / 1048576 )) MB"
  [ "$3" != - ] && [ "$7" = - ] && warm="the analytics warm-up ended during the run"
  echo "   read by the server in this run: $(( $5 - $1 )) read calls, $(( ($6 - $2) / 1048576 )) MB from the disk; $warm"
done
echo "== end rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status)MB"
