#!/usr/bin/env bash
# Installs, once, everything the test suite needs beside cargo, so that no
# test installs anything itself; a second run finds it all and does nothing.
#   - tansu, the Kafka-protocol broker (scripts/kafka-broker.sh; ~15 min once)
#   - nginx, the router of the cluster tests (scripts/cluster.sh deps)
#   - Prometheus and promtool, for the metrics and alert-rule tests
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/kafka-broker.sh install
scripts/cluster.sh deps
scripts/prometheus.sh install
