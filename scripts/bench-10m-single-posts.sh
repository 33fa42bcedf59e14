#!/usr/bin/env bash
# Single-statement POSTs on a data dir that `scripts/bench-10m-load.sh`
# filled: `lrs serve` started on it, 10 s to settle, then ROUNDS rounds of
# S single POSTs at concurrency 4 (`lrs bench --single-posts`, a new seed a
# round). For each round it prints the client's p50/p99/max and, from the
# server's own histograms (/metrics, before and after the round), how many
# requests took over 5 ms, how many log appends and verdict waits took over
# 5 ms, how many projector batches took over 5 ms, and how many batches the
# quality projection spent over 2.5 ms in (and the bucket its slowest falls in).
#
#   LRS_BIN=<build> scripts/bench-10m-single-posts.sh DIR
#
# S (default 1000), ROUNDS (default 3), LRS_BIN (default target/release/lrs);
# other LRS_ variables pass to the server. docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
. scripts/serve-data-dir.sh
dir=${1:?usage: scripts/bench-10m-single-posts.sh DIR}
bin=${LRS_BIN:-target/release/lrs}
serve_data_dir "$dir" 18500
sleep 10
for round in $(seq "${ROUNDS:-3}"); do
  curl -s "http://127.0.0.1:$port/metrics" >"$work/before"
  "$bin" bench --endpoint "http://127.0.0.1:$port/xapi" --key bk --secret bs --statements 0 --queries 0 \
    --single-posts "${S:-1000}" --seed $((70 + round)) --json "$work/bench.json" >/dev/null 2>&1
  curl -s "http://127.0.0.1:$port/metrics" >"$work/after"
  python3 - "$work/bench.json" "$round" "$work/before" "$work/after" <<'PY'
import json, re, sys
results = json.load(open(sys.argv[1]))["results"]
single = next(r for r in results if r["kind"].startswith("single"))
def buckets(path, name, label):
    counts = {}
    for line in open(path):
        m = re.match(name + r"_bucket\{(.*)\} (\S+)", line)
        if m and label in m.group(1):
            le = re.search(r'le="([^"]+)"', m.group(1)).group(1)
            counts[le] = counts.get(le, 0) + float(m.group(2))
    return counts
def over(name, limit, label=""):
    a, b = buckets(sys.argv[3], name, label), buckets(sys.argv[4], name, label)
    total = b.get("+Inf", 0) - a.get("+Inf", 0)
    under = [k for k in sorted((k for k in b if k != "+Inf"), key=float) if float(k) <= limit]
    within = b[under[-1]] - a.get(under[-1], 0) if under else 0
    return f"{int(total - within)}/{int(total)}"
def slowest(name, label=""):
    a, b = buckets(sys.argv[3], name, label), buckets(sys.argv[4], name, label)
    total = b.get("+Inf", 0) - a.get("+Inf", 0)
    for k in sorted((k for k in b if k != "+Inf"), key=float):
        if b[k] - a.get(k, 0) >= total:
            return f"<= {float(k) * 1000:g} ms"
    return "over the last bucket"
print(f"round {sys.argv[2]}: p50 {single['p50_ms']:.2f} p99 {single['p99_ms']:.2f} max {single['max_ms']:.2f} ms;",
      "over 5 ms: requests", over("lrs_http_request_duration_seconds", 0.005),
      "appends", over("lrs_gateway_log_append_duration_seconds", 0.005),
      "verdict waits", over("lrs_gateway_verdict_wait_duration_seconds", 0.005),
      "projector batches", over("lrs_projector_batch_duration_seconds", 0.005),
      "; quality over 2.5 ms", over("lrs_projector_downstream_duration_seconds", 0.0025, 'projection="quality"'),
      "(slowest", slowest("lrs_projector_downstream_duration_seconds", 'projection="quality"') + ")")
PY
done
