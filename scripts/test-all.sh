#!/usr/bin/env bash
# Every test of the workspace with a real Kafka-protocol broker (and the
# ScyllaDB suite when SCYLLA_URI is set), then a summary with one line per
# test that did not run: the `#[ignore]`d ones and those that skipped
# because a tool was missing (tests write those to $LRS_SKIP_LOG).
#
# Under CI=true a skip fails the run unless the CI script declared it:
# LRS_DECLARED_SKIPS holds the words of the skips allowed (today only
# `scylla`: ScyllaDB cannot be installed on the CI machine, docs/TESTING.md).
set -uo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
log=$(mktemp)
export LRS_SKIP_LOG
LRS_SKIP_LOG=$(mktemp)
trap 'rm -f "$log" "$LRS_SKIP_LOG"' EXIT

scripts/kafka-broker.sh run "$CARGO" test --workspace --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ -n "${SCYLLA_URI:-}" ]; then
  "$CARGO" test -p lrs-scylla -- --ignored 2>&1 | tee -a "$log"
  scylla=${PIPESTATUS[0]}
  [ "$scylla" -ne 0 ] && status=$scylla
fi

echo
echo "== Tests that did not run =="
skipped=0
undeclared=0
declared=" ${LRS_DECLARED_SKIPS:-} "
if [ -z "${SCYLLA_URI:-}" ]; then
  while IFS= read -r line; do
    name=$(sed -E 's/^test (.*) \.\.\. ignored.*$/\1/' <<<"$line")
    reason=$(sed -nE 's/^.* \.\.\. ignored, (.*)$/\1/p' <<<"$line")
    echo "SKIPPED: $name (${reason:-ignored})"
    skipped=$((skipped + 1))
    if [[ "$reason" == *ScyllaDB* && "$declared" == *" scylla "* ]]; then continue; fi
    undeclared=$((undeclared + 1))
  done < <(grep -E '^test .* \.\.\. ignored' "$log")
fi
while IFS= read -r line; do
  [ -n "$line" ] || continue
  echo "SKIPPED: $line"
  skipped=$((skipped + 1))
  undeclared=$((undeclared + 1))
done <"$LRS_SKIP_LOG"
echo "$skipped skipped"
if [ "${CI:-}" = true ] && [ "$undeclared" -gt 0 ]; then
  echo "FAILED: $undeclared skipped test(s) not declared in LRS_DECLARED_SKIPS by the CI script (.ci/run)" >&2
  [ "$status" -eq 0 ] && status=1
fi
exit "$status"
