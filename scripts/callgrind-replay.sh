#!/usr/bin/env bash
# Instructions per statement of the analytics builder and the store's
# writes, counted by callgrind over `lrs replay` of N statements, which
# drains the analytics outbox in passes of a fixed size: unlike a live
# ingest (scripts/callgrind-ingest.sh), where the builder's passes fall
# where the timing puts them and the number of merges it does varies from
# run to run by more than most changes save, this count repeats to within
# a few instructions, so two builds can be compared by it.
#
#   scripts/callgrind-replay.sh OUT             # writes OUT.callgrind, prints the parts
#   LRS_BIN=<build> N=20000 scripts/callgrind-replay.sh OUT
#
# `lrs load --statements N` (default 20000) fills a data dir once per N
# (kept in ${TMPDIR:-/tmp}/lrs-replay-N, made by the first build given);
# each run replays a copy of it. docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/callgrind-replay.sh OUT}
bin=${LRS_BIN:-target/release/lrs}
n=${N:-20000}
source_dir=${TMPDIR:-/tmp}/lrs-replay-$n
if [ ! -f "$source_dir/log.redb" ]; then
  rm -rf "$source_dir"
  LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn "$bin" load --data-dir "$source_dir" --statements "$n" >/dev/null
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp -r "$source_dir/." "$dir/"
LRS_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out.callgrind" \
  --toggle-collect='*RollupBuilder::drain*' --toggle-collect='*EmbeddedStore::write_now*' \
  "$bin" replay --data-dir "$dir" >"$out.log" 2>&1
callgrind_annotate --inclusive=yes "$out.callgrind" 2>/dev/null | python3 scripts/callgrind-parts.py "$n" statement \
  "collected (all parts)=PROGRAM TOTALS" \
  "analytics builder (drain)=RollupBuilder::drain" \
  "  applying the outbox=builder::apply_entries" \
  "  counting facts=Aggregate::add_hashed" \
  "  merging aggregates=Aggregate::merge" \
  "  distinct counts: insert=Distinct::insert" \
  "  distinct counts: merge=Distinct::merge" \
  "  the sparse list rewritten=merge_sparse" \
  "  encoding rows=Aggregate::encode" \
  "  values over all days=refresh_stale" \
  "store writes (fjall)=EmbeddedStore::write_now" | tee "$out.txt"
