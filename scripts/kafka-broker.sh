#!/usr/bin/env bash
# A Kafka-protocol broker for tests and the local cluster: tansu (crates.io,
# Apache-2.0) on its SQLite storage engine. Installed once into a fixed cache
# directory and reused by every later run and every clone on this machine.
#
#   scripts/kafka-broker.sh install          build tansu if it is not there yet (~15 min once)
#   scripts/kafka-broker.sh start PORT DIR   start a broker on 127.0.0.1:PORT with its data in DIR
#   scripts/kafka-broker.sh stop DIR         stop the broker started in DIR
#   scripts/kafka-broker.sh run CMD…         start one on a free port, run CMD with
#                                            LRS_KAFKA_BROKERS set, stop it, exit with CMD's status
set -euo pipefail
TOOLS=${LRS_TOOLS_DIR:-$HOME/.cache/lrs-tools}
TANSU=$TOOLS/tansu/bin/tansu
TANSU_VERSION=0.6.0

install() {
  if [ -x "$TANSU" ]; then return 0; fi
  mkdir -p "$TOOLS"
  # One install at a time (a test run and `make cluster-up` started together
  # on a new machine): two `cargo install`s into one root race on its files,
  # and the loser fails. The second waits, then finds tansu there.
  exec 9>"$TOOLS/tansu.lock"
  flock 9
  if [ -x "$TANSU" ]; then exec 9>&-; return 0; fi
  echo "installing tansu $TANSU_VERSION into $TOOLS (once; this takes a while)" >&2
  CARGO_TARGET_DIR="$TOOLS/tansu-build" cargo install tansu --locked --features libsql \
    --version "$TANSU_VERSION" --root "$TOOLS/tansu" >&2
  exec 9>&-
}

wait_for_port() {
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

start() {
  local port=$1 dir=$2
  install
  mkdir -p "$dir"
  (cd "$dir" && exec "$TANSU" broker \
      --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "sqlite://tansu.db" >"$dir/tansu.log" 2>&1) &
  echo $! >"$dir/tansu.pid"
  if ! wait_for_port "$port"; then
    echo "tansu did not start; see $dir/tansu.log" >&2
    tail -n 20 "$dir/tansu.log" >&2 || true
    return 1
  fi
  echo "LRS_KAFKA_BROKERS=127.0.0.1:$port"
}

stop() {
  local dir=$1 pid
  if [ -f "$dir/tansu.pid" ]; then
    pid=$(cat "$dir/tansu.pid")
    kill "$pid" 2>/dev/null || true
    # Wait until it has exited and freed its port, so a restart can bind it.
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/tansu.pid"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

case "${1:-}" in
  install) install ;;
  start) start "$2" "$3" ;;
  stop) stop "$2" ;;
  run)
    shift
    dir=$(mktemp -d)
    port=$(free_port)
    start "$port" "$dir" >/dev/null
    trap 'stop "$dir"; rm -rf "$dir"' EXIT
    status=0
    LRS_KAFKA_BROKERS=127.0.0.1:$port "$@" || status=$?
    exit $status
    ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
