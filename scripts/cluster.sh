#!/usr/bin/env bash
# The distributed topology on 127.0.0.1: a Kafka-protocol broker (tansu), one
# projector+query process (embedded store and key vault), two gateway
# processes (sealing with that vault) and an nginx router that sends reads
# and /admin to projector+query and writes to the gateways.
#
#   scripts/cluster.sh up     build, start everything, print ENDPOINT= KEY= SECRET=
#                             ADMIN_URL= OPERATOR_TOKEN=
#   scripts/cluster.sh down   stop everything
#   scripts/cluster.sh replay rebuild the projector's tables from Kafka (stops
#                             and restarts the projector+query process)
#   scripts/cluster.sh kill-projector
#                             SIGKILL the projector+query process and start it
#                             again (what a crash and a supervisor's restart do)
#   scripts/cluster.sh deps   install what `up` needs (nginx) and nothing else
#
# Environment: ROUTER_PORT (8090), BROKER_PORT (19092), CLUSTER_DIR (.cluster),
# QUERY_PORT (18181), GATEWAY_PORTS ("18182 18183"),
# CLUSTER_PROFILE (release; `debug` reuses the debug build), LRS_BIN (a built
# lrs binary to run instead of building one),
# LRS_BOOTSTRAP_KEY / LRS_BOOTSTRAP_SECRET, LRS_OPERATOR_TOKEN, LRS_VAULT_TOKEN
# (generated when unset), LRS_JWT_HS256_SECRET (passed on when set).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${CLUSTER_DIR:-$PWD/.cluster}
ROUTER_PORT=${ROUTER_PORT:-8090}
BROKER_PORT=${BROKER_PORT:-19092}
QUERY_PORT=${QUERY_PORT:-18181}
GATEWAY_PORTS=(${GATEWAY_PORTS:-18182 18183})

wait_for_port() {
  for _ in $(seq 400); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1; see $DIR/*.log" >&2
  return 1
}

start_process() { # name, then the command
  local name=$1
  shift
  "$@" >"$DIR/$name.out" 2>"$DIR/$name.log" &
  echo $! >"$DIR/$name.pid"
}

ensure_nginx() {
  if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then return 0; fi
  echo "installing nginx from Debian (once)" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >&2
}

lrs_binary() {
  if [ -n "${LRS_BIN:-}" ]; then echo "$LRS_BIN"; return 0; fi
  local profile=${CLUSTER_PROFILE:-release}
  if [ "$profile" = release ]; then cargo build --release -p lrs >&2; else cargo build -p lrs >&2; fi
  echo "$PWD/target/$profile/lrs"
}

# Fails when the process started as NAME has exited (it could not bind its
# port, say: then something else answers on it).
still_running() {
  local pid
  pid=$(cat "$DIR/$1.pid")
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "$1 exited; the end of $DIR/$1.log:" >&2
    tail -n 20 "$DIR/$1.log" >&2
    return 1
  fi
}

start_projector_query() { # the lrs binary
  start_process projector-query "$1" run --roles projector,query --listen "127.0.0.1:$QUERY_PORT" --data-dir "$DIR/store"
  wait_for_port "$QUERY_PORT"
  still_running projector-query
}

up() {
  down >/dev/null 2>&1 || true
  mkdir -p "$DIR"
  ensure_nginx
  local lrs
  lrs=$(lrs_binary)
  export LRS_BOOTSTRAP_KEY=${LRS_BOOTSTRAP_KEY:-cluster-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  export LRS_BOOTSTRAP_SECRET=${LRS_BOOTSTRAP_SECRET:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  export LRS_OPERATOR_TOKEN=${LRS_OPERATOR_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  export LRS_VAULT_TOKEN=${LRS_VAULT_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  export LRS_LOG_BACKEND=kafka LRS_KAFKA_BROKERS=127.0.0.1:$BROKER_PORT LRS_KAFKA_TOPIC_PREFIX=lrs
  # What `replay` needs to run and restart the projector the same way (secrets: mode 0600).
  (umask 077 && export -p | grep -E '^declare -x (LRS_|OTEL_)' >"$DIR/cluster.env")
  printf 'LRS_BIN=%q\nQUERY_PORT=%q\n' "$lrs" "$QUERY_PORT" >>"$DIR/cluster.env"
  scripts/kafka-broker.sh start "$BROKER_PORT" "$DIR/broker" >/dev/null
  start_projector_query "$lrs"
  local i=0 upstream=""
  for port in "${GATEWAY_PORTS[@]}"; do
    i=$((i + 1))
    # Each gateway enforces its share of a tenant's rate limit (docs/OPERATIONS.md).
    LRS_VAULT_URL="http://127.0.0.1:$QUERY_PORT" LRS_REPLICAS=${#GATEWAY_PORTS[@]} \
      start_process "gateway-$i" "$lrs" gateway --listen "127.0.0.1:$port" --data-dir "$DIR/gateway-$i"
    upstream="$upstream    server 127.0.0.1:$port;"$'\n'
  done
  for port in "${GATEWAY_PORTS[@]}"; do wait_for_port "$port"; done
  for ((n = 1; n <= ${#GATEWAY_PORTS[@]}; n++)); do still_running "gateway-$n"; done
  local user_line=""
  [ "$(id -u)" = 0 ] && user_line="user root;"
  mkdir -p "$DIR/nginx"
  cat >"$DIR/nginx/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx/body;
  proxy_temp_path $DIR/nginx/proxy;
  fastcgi_temp_path $DIR/nginx/fastcgi;
  uwsgi_temp_path $DIR/nginx/uwsgi;
  scgi_temp_path $DIR/nginx/scgi;
  client_max_body_size 16m;
  upstream query { server 127.0.0.1:$QUERY_PORT; }
  upstream gateways {
$upstream  }
  # Reads (and 1.0.3 alternate-syntax reads) go to query, everything else to the gateways.
  map "\$request_method:\$arg_method" \$backend {
    default gateways;
    "GET:" query;
    "HEAD:" query;
    "POST:GET" query;
    "POST:HEAD" query;
  }
  server {
    listen 127.0.0.1:$ROUTER_PORT;
    location / {
      proxy_pass http://\$backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_read_timeout 30s;
    }
    # The operator API lives where the store is.
    location /admin {
      proxy_pass http://query;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_read_timeout 30s;
    }
    # The vault route is between the processes only.
    location /internal {
      return 404;
    }
  }
}
CONF
  local nginx_bin
  nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
  "$nginx_bin" -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" -g 'daemon off;' >"$DIR/nginx.log" 2>&1 &
  echo $! >"$DIR/router.pid"
  wait_for_port "$ROUTER_PORT"
  echo "ENDPOINT=http://127.0.0.1:$ROUTER_PORT/xapi"
  echo "KEY=$LRS_BOOTSTRAP_KEY"
  echo "SECRET=$LRS_BOOTSTRAP_SECRET"
  echo "ADMIN_URL=http://127.0.0.1:$ROUTER_PORT/admin"
  echo "OPERATOR_TOKEN=$LRS_OPERATOR_TOKEN"
}

replay() {
  [ -f "$DIR/cluster.env" ] || { echo "no cluster in $DIR (run up first)" >&2; exit 1; }
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
  if [ -f "$DIR/projector-query.pid" ]; then
    local pid
    pid=$(cat "$DIR/projector-query.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  fi
  "$LRS_BIN" replay --data-dir "$DIR/store" >&2
  start_projector_query "$LRS_BIN"
  echo "replayed"
}

kill_projector() {
  [ -f "$DIR/cluster.env" ] || { echo "no cluster in $DIR (run up first)" >&2; exit 1; }
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
  local pid
  pid=$(cat "$DIR/projector-query.pid")
  kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  start_projector_query "$LRS_BIN"
  echo "restarted"
}

down() {
  for pidfile in "$DIR"/*.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  scripts/kafka-broker.sh stop "$DIR/broker"
  sleep 0.5
  echo "cluster stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  replay) replay ;;
  kill-projector) kill_projector ;;
  deps) ensure_nginx ;;
  *) sed -n '2,24p' "$0"; exit 2 ;;
esac
