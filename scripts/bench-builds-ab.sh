#!/usr/bin/env bash
# Two or more builds of lrs, measured in turn on the same load, each on a
# fresh data dir, in the order given (alternate them: A B B A ...):
#
#   scripts/bench-builds-ab.sh http BIN...   # lrs serve + lrs bench through HTTP
#   scripts/bench-builds-ab.sh load BIN...   # lrs load (gateway and projector in one process)
#
# http: `lrs bench --statements N --batch 100 --concurrency C --queries 0`
# against a fresh `lrs serve`; prints statements/s and the server's CPU per
# statement (user + system time from /proc/PID/stat, from before the load
# until the server is idle again, so the analytics builder's work after the
# load counts). load: `lrs load --statements N`; prints statements/s and the
# process's CPU time. N (default 200000 for http, 1000000 for load), C
# (concurrency, default 4). Every projection is on, as by default. http
# also prints the data dir's size once idle, and the server's /metrics lines
# that match METRICS (an extended regular expression) when it is set.
# docs/BENCHMARKS.md records the figures.
set -u
mode=${1:?usage: scripts/bench-builds-ab.sh http|load BIN...}
shift
cd "$(dirname "$0")/.."
client=target/release/lrs
tck=$(getconf CLK_TCK)
for bin in "$@"; do
  dir=$(mktemp -d)
  case $mode in
    load)
      n=${N:-1000000}
      /usr/bin/time -f "%U %S" -o "$dir.time" env LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn \
        "$bin" load --data-dir "$dir/data" --statements "$n" >"$dir.out" 2>&1
      rate=$(grep -oE "\(([0-9]+) statements/s\)" "$dir.out" | tr -dc '0-9')
      cpu=$(awk '{printf "%.1f", $1 + $2}' "$dir.time")
      echo "$bin $(date +%H:%M:%S) ${rate:-?} statements/s, CPU ${cpu} s"
      rm -f "$dir.time" "$dir.out"
      ;;
    http)
      n=${N:-200000}
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn \
        "$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir/data" >"$dir.log" 2>&1 &
      pid=$!
      for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
      cpu() { awk -v t="$tck" '{print ($14 + $15) / t}' "/proc/$pid/stat"; }
      before=$(cpu)
      rate=$("$client" bench --endpoint "http://127.0.0.1:$port/xapi" --key bk --secret bs --statements "$n" \
        --batch 100 --concurrency "${C:-4}" --queries 0 --single-posts 0 2>&1 | awk '/^ingest/ {print $(NF-3)}')
      # Idle: under 0.15 s of CPU in 3 s.
      last=$(cpu)
      while sleep 3; do
        now=$(cpu)
        awk -v a="$last" -v b="$now" 'BEGIN {exit !(b - a < 0.15)}' && break
        last=$now
      done
      after=$(cpu)
      awk -v bin="$bin" -v t="$(date +%H:%M:%S)" -v r="${rate:-?}" -v a="$before" -v b="$after" -v n="$n" \
        'BEGIN {printf "%s %s %s statements/s, server CPU %.1f s = %.1f us a statement\n", bin, t, r, b - a, (b - a) * 1e6 / n}'
      echo "  data dir $(du -sm "$dir/data" | cut -f1) MB"
      [ -n "${METRICS:-}" ] && curl -s "http://127.0.0.1:$port/metrics" | grep -E "$METRICS" | sed 's/^/  /'
      kill "$pid"; wait "$pid" 2>/dev/null
      rm -f "$dir.log"
      ;;
    *) echo "usage: scripts/bench-builds-ab.sh http|load BIN..." >&2; exit 2 ;;
  esac
  rm -rf "$dir"
done
