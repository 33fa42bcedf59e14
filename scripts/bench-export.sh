#!/usr/bin/env bash
# Export throughput and memory: against an `lrs serve` already running on a
# data dir (URL, KEY, SECRET), downloads GET /export/v1/statements in each
# format (FORMATS, default "ndjson csv parquet") with the filters in QUERY
# (e.g. since=…&until=… for a slice of a large tenant), counts the rows it
# got back, and samples the server's RSS (PID) every 0.2 s.
#
#   URL=http://127.0.0.1:18777 KEY=bk SECRET=bs PID=1234 QUERY='since=…' scripts/bench-export.sh
#
# Prints per format: rows, bytes, seconds, rows/s, RSS before, peak RSS during.
# Rows are counted with python as they arrive (ndjson lines, csv records);
# parquet rows with DuckDB when DUCKDB_PYTHON points at a python with duckdb
# (else they are not counted). docs/BENCHMARKS.md records the figures.
set -eu
: "${URL:?}" "${KEY:?}" "${SECRET:?}" "${PID:?}"
rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
# ndjson and csv are counted as they arrive (a whole 10M export in ndjson is
# 8 GB); parquet is written to a temporary file for DuckDB to read.
count_stream() { # format: reads the export on stdin, prints "rows bytes"
  python3 -c '
import csv, io, sys
fmt = sys.argv[1]
counted = io.BufferedReader(sys.stdin.buffer, 1 << 20)
bytes_read = 0
class Counting(io.RawIOBase):
    def readable(self): return True
    def readinto(self, buffer):
        global bytes_read
        data = counted.read(len(buffer))
        bytes_read += len(data)
        buffer[:len(data)] = data
        return len(data)
stream = io.BufferedReader(Counting(), 1 << 20)
if fmt == "csv":
    csv.field_size_limit(10**9)
    rows = sum(1 for _ in csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline=""))) - 1
else:
    rows = sum(1 for line in stream if line.strip())
print(rows, bytes_read)
' "$1"
}
for format in ${FORMATS:-ndjson csv parquet}; do
  out=$(mktemp --suffix=".$format")
  before=$(rss); peak=$before
  start=$(date +%s.%N)
  if [ "$format" = parquet ]; then
    curl -sf -u "$KEY:$SECRET" "$URL/export/v1/statements?format=$format&${QUERY:-}" -o "$out" &
  else
    (set -o pipefail; curl -sf -u "$KEY:$SECRET" "$URL/export/v1/statements?format=$format&${QUERY:-}" \
      | count_stream "$format" > "$out") &
  fi
  curl_pid=$!
  while kill -0 $curl_pid 2>/dev/null; do
    now=$(rss); [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.2
  done
  wait $curl_pid
  seconds=$(python3 -c "import time;print(round(time.time()-$start,2))")
  case $format in
    parquet)
      rows=$(${DUCKDB_PYTHON:-false} -c 'import duckdb,sys;print(duckdb.sql("select count(*) from read_parquet($p)", params={"p": sys.argv[1]}).fetchall()[0][0])' "$out" 2>/dev/null || echo "?")
      bytes=$(stat -c %s "$out") ;;
    *) read -r rows bytes < "$out" ;;
  esac
  rate=$(python3 -c "r='$rows';print(round(int(r)/$seconds) if r.isdigit() else '?')")
  echo "$format: $rows rows, $bytes bytes, ${seconds} s, $rate rows/s, RSS ${before} kB before, peak ${peak} kB (+$(( (peak - before) / 1024 )) MB)"
  rm -f "$out"
done
