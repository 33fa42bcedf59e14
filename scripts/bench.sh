#!/usr/bin/env bash
# The benchmark of docs/BENCHMARKS.md in one command: `lrs bench` against a
# fresh `lrs serve` (release build, embedded default) and, in the same run on
# the same machine with the same arguments, against the peer LRS Ralph
# (scripts/peer-ralph.sh). Results: both tables on stdout, JSON in OUT.
#
# Usage: scripts/bench.sh [lrs bench options...]
#   e.g. scripts/bench.sh --statements 5000 --batch 100 --concurrency 8 --queries 50
# PEER=none skips the peer; OUT (default target/bench) holds the JSON results.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-target/bench}
mkdir -p "$out"
work=$(mktemp -d)
cleanup() {
  [ -n "${lrs_pid:-}" ] && kill "$lrs_pid" 2>/dev/null && wait "$lrs_pid" 2>/dev/null
  [ -d "$work/ralph" ] && scripts/peer-ralph.sh stop "$work/ralph" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -p lrs >&2
lrs=target/release/lrs
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== lrs serve (embedded, release) on $(nproc) cores" >&2
port=$(free_port)
LRS_BOOTSTRAP_KEY=bench LRS_BOOTSTRAP_SECRET=bench-secret LRS_LOG=warn \
  "$lrs" serve --listen "127.0.0.1:$port" --data-dir "$work/lrs-data" >"$work/lrs.log" 2>&1 &
lrs_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "lrs:"
"$lrs" bench --endpoint "http://127.0.0.1:$port/xapi" --key bench --secret bench-secret --json "$out/lrs.json" "$@"
kill "$lrs_pid"; wait "$lrs_pid" 2>/dev/null || true; lrs_pid=

if [ "${PEER:-ralph}" = ralph ]; then
  echo "== peer: Ralph (fs backend, see scripts/peer-ralph.sh)" >&2
  eval "$(scripts/peer-ralph.sh start "$(free_port)" "$work/ralph" | grep -E '^(ENDPOINT|KEY|SECRET)=')"
  echo "ralph:"
  "$lrs" bench --endpoint "$ENDPOINT" --key "$KEY" --secret "$SECRET" --json "$out/ralph.json" "$@"
fi
