#!/usr/bin/env bash
# Loads N statements (default 10,000,000) with `lrs load` into a fresh data
# dir and samples the loader's memory (RSS), log and store sizes each minute.
#
#   scripts/bench-10m-load.sh DIR > OUT      # then scripts/bench-10m-reads.sh DIR
#
# LRS_BIN (default target/release/lrs), N. docs/BENCHMARKS.md records the figures.
set -eu
cd "$(dirname "$0")/.."
. scripts/sample-each-minute.sh
dir=${1:?usage: scripts/bench-10m-load.sh DIR}
bin=${LRS_BIN:-target/release/lrs}
rm -rf "$dir"; mkdir -p "$dir"
start=$(date +%s)
LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn "$bin" load --data-dir "$dir" --statements "${N:-10000000}" &
pid=$!
sample_each_minute $pid $pid "$dir"
wait $pid
echo "seconds=$(( $(date +%s) - start ))"
du -sm "$dir"/*
