#!/usr/bin/env bash
# An hour of ingest through HTTP at a set pace: `lrs serve` on a fresh data
# dir, `lrs bench` sending batches of 100 at RATE statements/s (default 4,000)
# for N statements (default RATE × 3,600), the server's RSS, log and store
# sampled each minute (scripts/sample-each-minute.sh); then the bench's own figures.
#
#   scripts/bench-hour-paced.sh DIR > OUT
#
# LRS_BIN (default target/release/lrs), RATE, N. docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
. scripts/sample-each-minute.sh
dir=${1:?usage: scripts/bench-hour-paced.sh DIR}
bin=${LRS_BIN:-target/release/lrs}
rate=${RATE:-4000}
n=${N:-$((rate * 3600))}
port=$((18400 + RANDOM % 90))
rm -rf "$dir"; mkdir -p "$dir"
LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn "$bin" serve --listen 127.0.0.1:$port --data-dir "$dir" >"$dir.serve.log" 2>&1 &
serve=$!
trap 'kill $serve 2>/dev/null || true' EXIT
for _ in $(seq 600); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
start=$(date +%s)
"$bin" bench --endpoint http://127.0.0.1:$port/xapi --key bk --secret bs --statements "$n" --rate "$rate" \
  --batch 100 --concurrency 16 --queries 20 --single-posts 200 >"$dir.bench.txt" 2>&1 &
bench=$!
sample_each_minute $bench $serve "$dir"
wait $bench || echo "lrs bench failed"
echo "seconds=$(( $(date +%s) - start ))"
du -sm "$dir"/*
cat "$dir.bench.txt"
