#!/usr/bin/env bash
# Export memory test (issue 14): a fresh `lrs serve` (release build, embedded
# default) is filled with N statements (default 1,000,000) by `lrs bench`,
# and stopped. For each format (ndjson, csv, parquet) it is started again on
# its data dir (with SERVE_ARGS) and left to settle, its resident memory read
# ("idle"), and the whole tenant exported, written to a file here and its
# rows counted (csv with Python's CSV reader, parquet with DuckDB). The peak
# resident memory of the server during the export (VmHWM, reset at idle) must
# stay under LIMIT_MB (default 100) above idle, and the export must hold all
# N rows.
#
#   SERVE_ARGS="--store-cache-mb 32" scripts/export-memory.sh   # as make test runs it
#
# Flags of the restarted `lrs serve` go in SERVE_ARGS. Release build: a debug build
# ingests ~70 statements/s, too slow for a million. Exit 1 if a limit or a
# count is not met. Runs in `make test` (target `export-memory`).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
LIMIT_MB=${LIMIT_MB:-100}
# DuckDB reads the parquet export back (installed once by scripts/test-deps.sh).
duckdb_python=${DUCKDB_PYTHON:-$HOME/.cache/lrs-tools/duckdb/bin/python}
"$duckdb_python" -c 'import duckdb' || { echo "no DuckDB: run scripts/test-deps.sh" >&2; exit 2; }
cargo build --release -p lrs >&2
# mimalloc returns freed memory to the system at once: resident memory is
# then what the server holds, not also what the allocator kept of freed
# memory for reuse (with its default delay, the idle of a restarted server
# is 96 or 415 MB depending on which thread freed the start's temporary
# memory, and an export reusing the 415 would hide its own).
export MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:-0}
lrs=${CARGO_TARGET_DIR:-target}/release/lrs
dir=$(mktemp -d)
# DATA_DIR: a data dir this script loaded before (kept with KEEP_DATA=1), to
# measure again without loading; else a new one, removed at the end.
data=${DATA_DIR:-$dir/data}
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
url=http://127.0.0.1:$port
pid=
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
serve() { # extra flags: starts lrs serve on the data dir, waits for its ENDPOINT= line
  : >"$dir/out"
  LRS_BOOTSTRAP_KEY=mk LRS_BOOTSTRAP_SECRET=memory-secret \
    $lrs serve --listen "127.0.0.1:$port" --data-dir "$data" "$@" >"$dir/out" 2>"$dir/err" &
  pid=$!
  for _ in $(seq 300); do grep -q '^ENDPOINT=' "$dir/out" && break; sleep 0.1; done
  grep -q '^ENDPOINT=' "$dir/out" || { echo "lrs serve did not start" >&2; cat "$dir/err" >&2; exit 2; }
}

free_mb() { df -P -m "$1" | awk 'NR == 2 {print $4}'; }
if [ ! -e "$data/loaded" ]; then
  echo "== export memory: loading $N statements" >&2
  # The store takes ~1.5 KB a statement and the largest export ~1 KB: on a
  # full disk the server answers 503 and the load's own output cannot be
  # written, so say so first rather than fail without a word.
  need_mb=$(( N * 3 / 1000 + 500 )) have_mb=$(free_mb "$dir")
  if [ "$have_mb" -lt "$need_mb" ]; then
    echo "export memory: needs about $need_mb MB free on the file system of $dir; it has $have_mb MB" >&2
    exit 2
  fi
  serve
  load_start=$(date +%s)
  $lrs bench --endpoint "$url/xapi" --key mk --secret memory-secret --statements "$N" --batch 100 \
    --concurrency 4 --queries 1 --single-posts 0 >"$dir/bench" 2>&1 || {
    status=$?
    echo "export memory: lrs bench exited $status; $(free_mb "$dir") MB free on the file system of $dir" >&2
    tail -20 "$dir/bench" >&2
    tail -5 "$dir/err" | cut -c1-300 >&2
    exit 2
  }
  echo "   loaded in $(( $(date +%s) - load_start )) s" >&2
  if [ "${KEEP_DATA:-0}" = 1 ]; then echo "$N" >"$data/loaded"; fi
fi
count() { # format, file: prints the rows in the export
  case $1 in
    ndjson) grep -c . "$2" ;;
    csv) python3 -c '
import csv, sys
csv.field_size_limit(10**9)
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    print(sum(1 for _ in csv.reader(f)) - 1)' "$2" ;;
    parquet) "$duckdb_python" -c '
import duckdb, sys
print(duckdb.sql("select count(*) from read_parquet($p)", params={"p": sys.argv[1]}).fetchall()[0][0])' "$2" ;;
  esac
}

kb() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$pid/status"; }
# Idle is a server that has just started on the loaded data and served
# nothing yet (started anew before each format, so each export starts from
# cold caches, the strictest case): once the analytics day blocks it builds
# at start are built, the resident memory read every 2 s until three
# readings are within 2 MB (at most 120 s).
restart_idle() {
  if [ -n "$pid" ]; then kill -TERM $pid; wait $pid || true; fi
  # shellcheck disable=SC2086 # SERVE_ARGS holds several flags
  serve ${SERVE_ARGS:-}
  for _ in $(seq 60); do grep -q 'analytics day blocks built' "$dir/err" && break; sleep 0.5; done
  local previous now steady=0
  previous=$(kb VmRSS)
  for _ in $(seq 60); do
    sleep 2
    now=$(kb VmRSS)
    if [ $(( now > previous ? now - previous : previous - now )) -lt 2048 ]; then
      steady=$((steady + 1)); [ $steady -ge 2 ] && break
    else
      steady=0
    fi
    previous=$now
  done
}

# Each start after the load replays part of the log's journal into
# memtables, written out a start later (idle fell 349 -> 234 -> 121 MB over
# three starts after a 300k load): start and stop until idle stops falling,
# so that no memtable is written out (and freed) during a measured export.
previous_idle=
for _ in 1 2 3 4 5 6; do
  restart_idle
  idle=$(kb VmRSS)
  echo "   settling: idle $(( idle / 1024 )) MB after a start" >&2
  if [ -n "$previous_idle" ] && [ $(( previous_idle - idle )) -lt 20480 ]; then break; fi
  previous_idle=$idle
done

failed=0
for format in ndjson csv parquet; do
  restart_idle
  echo 5 >"/proc/$pid/clear_refs" # resets VmHWM to the current resident memory
  idle=$(kb VmRSS)
  start=$(date +%s.%N)
  curl -sfS -u mk:memory-secret "$url/export/v1/statements?format=$format" -o "$dir/export.$format"
  seconds=$(python3 -c "import time;print(round(time.time()-$start,1))")
  peak=$(kb VmHWM)
  rows=$(count "$format" "$dir/export.$format")
  rm -f "$dir/export.$format"
  above=$(( (peak - idle) / 1024 ))
  echo "$format: $rows rows in $seconds s; resident idle $(( idle / 1024 )) MB, peak $(( peak / 1024 )) MB: +$above MB (limit $LIMIT_MB)"
  if [ "$rows" -ne "$N" ]; then echo "FAILED: $format export holds $rows rows, not $N" >&2; failed=1; fi
  if [ "$above" -ge "$LIMIT_MB" ]; then echo "FAILED: $format export took the server $above MB above idle" >&2; failed=1; fi
done
if [ "$failed" -eq 0 ]; then echo "export memory: ok ($N statements, every format under $LIMIT_MB MB above idle)"; fi
exit "$failed"
