#!/usr/bin/env bash
# Installs and runs a peer LRS, France Université Numérique's Ralph (PyPI
# package `ralph-malph`), on this machine, so that `lrs bench` can measure it
# side by side with ours. Ralph is installed in a virtualenv outside the
# repository; a second install finds it there and does nothing.
#
# Usage:
#   scripts/peer-ralph.sh install           install Ralph (done by start if needed)
#   scripts/peer-ralph.sh start PORT DIR    run it on 127.0.0.1:PORT, state in DIR;
#                                           prints ENDPOINT=…, KEY=…, SECRET=…
#   scripts/peer-ralph.sh stop DIR          stop the one started with that DIR
# e.g.
#   eval "$(scripts/peer-ralph.sh start 8200 /tmp/ralph)"
#   lrs bench --endpoint "$ENDPOINT" --key "$KEY" --secret "$SECRET" --statements 2000
#   scripts/peer-ralph.sh stop /tmp/ralph
#
# Ralph keeps its statements with its file-system backend (`fs`, built in: the
# package has no extra for it), one JSON-lines file in DIR/data, so it needs no
# database server. Its other LRS backends (Elasticsearch, MongoDB, ClickHouse)
# each need a server that cannot be installed here: Debian has none of the
# first two, and its ClickHouse (18.16) is older than what Ralph's schema needs.
#
# As published (5.1.0), the fs backend is not usable as an LRS; two bugs:
# - it takes only the first POST: it writes every batch with the fs data
#   backend's default operation, `create`, which means "create the file, fail
#   if it exists", so every later POST answers 500 ("fs_lrs.jsonl already
#   exists and overwrite is not allowed with operation_type create or index");
# - its `verb` and `activity` filters (so also related_activities) match
#   nothing: they compare the stored IRI, a str, with the query's IRI, a
#   pydantic RootModel, which is never equal to a str; those GETs answer 200
#   with no statements.
# The server therefore runs through a shim, written to DIR/peer_ralph_app.py,
# that sets that backend's default operation to `append`, passes the two IRIs
# to its filters as str, and then serves Ralph's own app unchanged
# (RALPH_PEER_PATCH=0 leaves the published behaviour). Even so this is Ralph's
# simplest backend, not its fastest: it scans the file from the start for
# every GET (until it has `limit` matches) and for the duplicate-id check of
# every POST, rewrites its read history (DIR/app/history.json) after each full
# scan, and answers a GET without filters with the oldest statements first.
#
# The server is Ralph's ASGI app under uvicorn, one process, as Ralph's own
# container image runs it; not `ralph runserver`, Ralph's development server,
# which auto-reloads, logs at debug level, and cannot load the shim. The log
# is DIR/ralph.log, the pid DIR/ralph.pid.
#
# LRS_TOOLS_CACHE overrides ~/.cache/lrs-tools. Needs python3 with the venv
# module, and network access to PyPI on the first install.
set -euo pipefail
RALPH_VERSION=5.1.0
# `lrs` is the API server (FastAPI, uvicorn), `cli` the `ralph` command. The
# server's OIDC module imports `requests`, which 5.1.0 declares only for its
# LDP and S3 backends: without it neither the server nor `ralph auth` starts.
RALPH_REQUIREMENTS=("ralph-malph[cli,lrs]==$RALPH_VERSION" "requests>=2.0.0")
cache=${LRS_TOOLS_CACHE:-${HOME:?HOME must be set}/.cache/lrs-tools}
venv="$cache/ralph-venv"
python="$venv/bin/python"
# Written last, holding the requirements: a venv without it is a half-finished
# install, and one whose stamp names other requirements is stale; both are redone.
stamp="$venv/.installed-ralph-$RALPH_VERSION"

usage() {
  echo "usage: $0 install | start PORT DIR | stop DIR" >&2
  exit 2
}

ready() {
  [ -x "$python" ] && [ -x "$venv/bin/ralph" ] && [ -f "$stamp" ] &&
    [ "$(cat "$stamp")" = "${RALPH_REQUIREMENTS[*]}" ]
}

install() {
  ready && return 0
  mkdir -p "$cache"
  # Two runs sharing the cache must not build the venv at the same time.
  if command -v flock >/dev/null; then
    exec 9>"$cache/ralph-venv.lock"
    flock 9
  fi
  if ! ready; then
    echo "installing ${RALPH_REQUIREMENTS[*]} into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$python" -m pip install --quiet --disable-pip-version-check "${RALPH_REQUIREMENTS[@]}" >&2
    # Importing the API builds the app, with the backend the settings name.
    (cd "$venv" && RALPH_RUNSERVER_BACKEND=fs "$python" -c 'import ralph.cli, ralph.api, uvicorn') >&2
    echo "${RALPH_REQUIREMENTS[*]}" >"$stamp"
  fi
  if command -v flock >/dev/null; then
    exec 9>&-
  fi
}

# Is the process whose id is in DIR/ralph.pid alive?
running() {
  local pid
  [ -f "$1/ralph.pid" ] && pid=$(cat "$1/ralph.pid") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

start() {
  local port=$1 dir=$2
  case $port in '' | *[!0-9]*) echo "PORT must be a number, not '$port'" >&2; exit 2 ;; esac
  install
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if running "$dir"; then
    echo "Ralph already runs from $dir (pid $(cat "$dir/ralph.pid")): stop it first" >&2
    exit 1
  fi
  mkdir -p "$dir/data" "$dir/app"

  # Ralph's settings are environment variables (pydantic-settings, prefix
  # RALPH_, "__" between nesting levels); cd'ing into DIR keeps a stray .env
  # in the caller's directory from being read.
  export RALPH_APP_DIR="$dir/app"
  export RALPH_AUTH_FILE="$dir/auth.json"
  export RALPH_RUNSERVER_BACKEND=fs
  export RALPH_RUNSERVER_AUTH_BACKENDS=basic
  export RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH="$dir/data"
  export RALPH_BACKENDS__DATA__FS__DEFAULT_DIRECTORY_PATH="$dir/data"

  # A fresh Basic credential each start. Scope `all` takes in statements/write
  # and statements/read (scopes are only enforced with
  # RALPH_LRS_RESTRICT_BY_SCOPES, which is off); `ralph auth` wants an agent
  # identifier for the credential's authority, and appends to RALPH_AUTH_FILE.
  local key=bench secret
  secret=$("$python" -c 'import secrets; print(secrets.token_hex(16))')
  rm -f "$RALPH_AUTH_FILE"
  (cd "$dir" && "$venv/bin/ralph" auth --username "$key" --password "$secret" --scope all \
    --agent-ifi-mbox "mailto:lrs-$key@example.com" --agent-name "lrs bench" --write-to-disk) \
    >>"$dir/ralph.log" 2>&1 || { tail -n 20 "$dir/ralph.log" >&2; exit 1; }

  cat >"$dir/peer_ralph_app.py" <<'PY'
"""Ralph's ASGI app, with the fs LRS backend's two bugs worked around (see peer-ralph.sh)."""
import os

from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

if os.environ.get("RALPH_PEER_PATCH", "1") != "0":
    FSLRSBackend.default_operation_type = BaseOperationType.APPEND
    by_verb = FSLRSBackend._add_filter_by_verb
    by_activity = FSLRSBackend._add_filter_by_activity
    FSLRSBackend._add_filter_by_verb = staticmethod(
        lambda filters, verb_id: by_verb(filters, verb_id and str(verb_id))
    )
    FSLRSBackend._add_filter_by_activity = staticmethod(
        lambda filters, object_id, related: by_activity(
            filters, object_id and str(object_id), related
        )
    )

from ralph.api import app  # noqa: E402
PY

  echo "starting Ralph $RALPH_VERSION on 127.0.0.1:$port, data in $dir/data, log $dir/ralph.log" >&2
  # Its own session, so that stop can end it, and anything it started, by its
  # process group. Pydantic warns on every statement that Ralph's mbox type is
  # not a str while serializing (the stored JSON is right): that is left out of
  # the log, whose writing would otherwise be part of what is measured.
  (cd "$dir" && PYTHONWARNINGS=ignore::UserWarning exec setsid "$venv/bin/uvicorn" peer_ralph_app:app \
    --app-dir "$dir" --host 127.0.0.1 --port "$port" --workers 1 --log-level warning --no-access-log) \
    </dev/null >>"$dir/ralph.log" 2>&1 &
  echo $! >"$dir/ralph.pid"

  # Ready once its heartbeat (which also checks the backend) answers 200.
  local url="http://127.0.0.1:$port" tries=0
  until "$python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "$url/__heartbeat__" 2>/dev/null; do
    if ! running "$dir"; then
      echo "Ralph exited while starting; the end of $dir/ralph.log:" >&2
      tail -n 30 "$dir/ralph.log" >&2
      exit 1
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 120 ]; then
      echo "Ralph did not answer on $url within 60 s; the end of $dir/ralph.log:" >&2
      tail -n 30 "$dir/ralph.log" >&2
      stop "$dir"
      exit 1
    fi
    sleep 0.5
  done
  # Something else may hold the port and have answered instead.
  sleep 0.5
  if ! running "$dir"; then
    echo "Ralph exited after starting (is port $port taken?); the end of $dir/ralph.log:" >&2
    tail -n 30 "$dir/ralph.log" >&2
    exit 1
  fi
  # Statements are served under /xAPI/statements.
  echo "ENDPOINT=$url/xAPI"
  echo "KEY=$key"
  echo "SECRET=$secret"
}

stop() {
  local dir=$1 pid i
  if ! running "$dir"; then
    echo "Ralph is not running from $dir" >&2
    rm -f "$dir/ralph.pid"
    return 0
  fi
  pid=$(cat "$dir/ralph.pid")
  # The process group that setsid made, led by that pid.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "Ralph (pid $pid) did not stop within 10 s: killing it" >&2
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
  fi
  rm -f "$dir/ralph.pid"
  echo "stopped Ralph (pid $pid)" >&2
}

case ${1:-} in
  install) [ $# -eq 1 ] || usage; install; echo "$venv/bin/ralph" ;;
  start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  *) usage ;;
esac
