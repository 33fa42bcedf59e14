#!/usr/bin/env bash
# Installs, once, everything the test suite needs beside cargo, so that no
# test installs anything itself; a second run finds it all and does nothing.
#   - tansu, the Kafka-protocol broker (scripts/kafka-broker.sh; ~15 min once)
#   - nginx, the router of the cluster tests (scripts/cluster.sh deps)
#   - Prometheus and promtool, for the metrics and alert-rule tests
#   - Debian's Chromium and, in dashboard/node_modules, playwright-core (the
#     versions of dashboard/package-lock.json), for the dashboard test
#   - DuckDB from PyPI (a venv in ~/.cache/lrs-tools/duckdb), which reads the
#     parquet export back in scripts/export-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/kafka-broker.sh install
scripts/cluster.sh deps
scripts/prometheus.sh install
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (once)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
if [ ! -d dashboard/node_modules/playwright-core ]; then
  echo "installing the dashboard's test packages from npm (once)" >&2
  (cd dashboard && npm ci --no-audit --no-fund --silent >&2)
fi
duckdb=$HOME/.cache/lrs-tools/duckdb
if ! "$duckdb/bin/python" -c 'import duckdb' 2>/dev/null; then
  echo "installing DuckDB from PyPI into $duckdb (once)" >&2
  python3 -m venv "$duckdb" >&2
  "$duckdb/bin/pip" install --quiet duckdb==2.0.0 >&2
fi
