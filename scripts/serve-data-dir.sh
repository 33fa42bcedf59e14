# Sourced by the benchmarks of a filled data dir: `serve_data_dir DIR BASE`
# starts `lrs serve` ($bin) on DIR at a port from BASE to BASE+89, with the
# bootstrap credential bk/bs, and waits until it answers /healthz. It sets
# `port`, `pid` and `work` (a temporary dir holding the server's log); at
# exit the server is stopped and `work` removed.
serve_data_dir() {
  local dir=$1 base=$2
  port=$((base + RANDOM % 90))
  work=$(mktemp -d)
  LRS_BOOTSTRAP_KEY=bk LRS_BOOTSTRAP_SECRET=bs LRS_LOG=warn "$bin" serve --listen 127.0.0.1:$port --data-dir "$dir" \
    >"$work/serve.log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
  for _ in $(seq 18000); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.1; done
}
