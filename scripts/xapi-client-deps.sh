#!/usr/bin/env bash
# Installs the published xAPI client the end-to-end client test drives
# (tests/clients/tincan_roundtrip.py): Rustici's TinCanPython, PyPI package
# `tincan`, in a virtualenv outside the repository. A second run finds it there
# and does nothing. Prints the venv's python as the last line of stdout.
#
# Usage: scripts/xapi-client-deps.sh   (LRS_TOOLS_CACHE overrides ~/.cache/lrs-tools)
# Needs python3 with the venv module, and network access to PyPI on the first run.
set -euo pipefail
TINCAN_VERSION=1.0.0
cache=${LRS_TOOLS_CACHE:-${HOME:?HOME must be set}/.cache/lrs-tools}
venv="$cache/tincan-venv"
python="$venv/bin/python"
# Written last: a venv without it is a half-finished install and is redone.
stamp="$venv/.installed-tincan-$TINCAN_VERSION"

ready() { [ -x "$python" ] && [ -f "$stamp" ] && "$python" -c 'import tincan' 2>/dev/null; }

if ! ready; then
  mkdir -p "$cache"
  # Two test runs sharing the cache must not build the venv at the same time.
  if command -v flock >/dev/null; then
    exec 9>"$cache/tincan-venv.lock"
    flock 9
  fi
  if ! ready; then
    echo "installing tincan==$TINCAN_VERSION into $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$python" -m pip install --quiet --disable-pip-version-check "tincan==$TINCAN_VERSION" >&2
    "$python" -c 'import tincan' >&2
    touch "$stamp"
  fi
fi
echo "$python"
