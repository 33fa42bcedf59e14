#!/usr/bin/env bash
# Fails when a crate declares a dependency it does not use (cargo-machete,
# installed once under ~/.cache/lrs-tools and reused after).
set -euo pipefail
cd "$(dirname "$0")/.."
root=${LRS_TOOLS_DIR:-$HOME/.cache/lrs-tools}/cargo-machete
if [ ! -x "$root/bin/cargo-machete" ]; then
  echo "installing cargo-machete 0.9.2 into $root (once)" >&2
  cargo install --quiet --locked --root "$root" cargo-machete@0.9.2 >&2
fi
"$root/bin/cargo-machete"
