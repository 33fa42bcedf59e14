#!/usr/bin/env bash
# Debian's Prometheus server and promtool, for the metrics tests and local
# monitoring. Installed once with apt-get (the machine's package manager;
# needs root) and reused while present.
#
#   scripts/prometheus.sh install                  apt-get install prometheus unless promtool is there
#   scripts/prometheus.sh installed                exit 0 when prometheus and promtool are there
#   scripts/prometheus.sh start PORT DIR TARGET…   start a server on 127.0.0.1:PORT, data and config in DIR,
#                                                  scraping every TARGET (host:port, /metrics) each second
#   scripts/prometheus.sh stop DIR                 stop the server started in DIR
#   scripts/prometheus.sh check-rules FILE…        promtool check rules
#   scripts/prometheus.sh check-metrics FILE       promtool check metrics on a saved exposition
set -euo pipefail

installed() {
  command -v prometheus >/dev/null && command -v promtool >/dev/null
}

# What needs them fails when they are missing: installing is scripts/test-deps.sh's
# (make deps) or the operator's job, not a test's.
require() {
  installed || { echo "prometheus and promtool are missing: run scripts/prometheus.sh install" >&2; exit 1; }
}

install() {
  if installed; then return 0; fi
  echo "installing Debian's prometheus package (once)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not try to start their services here (no init system in
  # containers); the tests start the server themselves.
  local policy=/usr/sbin/policy-rc.d created=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
  fi
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends prometheus >&2
  if [ -n "$created" ]; then rm -f "$policy"; fi
}

wait_for_ready() {
  for _ in $(seq 300); do
    if curl -fsS "http://127.0.0.1:$1/-/ready" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

start() {
  local port=$1 dir=$2
  shift 2
  require
  mkdir -p "$dir/data"
  local targets
  targets=$(printf '"%s",' "$@")
  cat >"$dir/prometheus.yml" <<CONFIG
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: lrs
    metrics_path: /metrics
    static_configs:
      - targets: [${targets%,}]
CONFIG
  promtool check config "$dir/prometheus.yml" >&2
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" >"$dir/prometheus.log" 2>&1 &
  echo $! >"$dir/prometheus.pid"
  if ! wait_for_ready "$port"; then
    echo "prometheus did not start; see $dir/prometheus.log" >&2
    tail -n 20 "$dir/prometheus.log" >&2 || true
    return 1
  fi
  echo "PROMETHEUS_URL=http://127.0.0.1:$port"
}

stop() {
  local dir=$1
  if [ -f "$dir/prometheus.pid" ]; then
    kill "$(cat "$dir/prometheus.pid")" 2>/dev/null || true
    rm -f "$dir/prometheus.pid"
  fi
}

case "${1:-}" in
  install) install ;;
  installed) installed ;;
  start) shift; start "$@" ;;
  stop) stop "$2" ;;
  check-rules) shift; require; promtool check rules "$@" ;;
  check-metrics) require; promtool check metrics <"$2" ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
