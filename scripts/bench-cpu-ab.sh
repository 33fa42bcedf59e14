#!/usr/bin/env bash
# CPU cost of a projection per statement: the server's CPU time over the same
# `lrs bench` ingest, with and without it, alternating fresh `lrs serve`
# processes (scripts/bench-ingest-ab.sh with MEASURE=cpu; see there). Steadier
# than statements/s on a shared machine.
#
#   scripts/bench-cpu-ab.sh analytics | quality
#
# N (statements, default 100000), ROUNDS (3), SHAPE (extra lrs bench arguments).
N=${N:-100000} MEASURE=cpu exec "$(dirname "$0")/bench-ingest-ab.sh" "$@"
