#!/usr/bin/env bash
# Builds the policy into target/@NAME@.wasm with componentize-py, pinned in tools/requirements.txt
# and installed on first use into a virtualenv under $WICKET_TOOLS (default
# ~/.cache/wicket/tools), shared by every policy on this machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools="${WICKET_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/wicket/tools}"
venv="$tools/python"

if ! cmp -s "$here/tools/requirements.txt" "$venv/requirements.txt"; then
  python3 -c 'import ensurepip, venv' 2>/dev/null || {
    echo "needs python3 with venv (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
  }
  echo "installing componentize-py into $venv (once)"
  rm -rf "$venv"
  mkdir -p "$tools"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/tools/requirements.txt"
  cp "$here/tools/requirements.txt" "$venv/requirements.txt"
fi

mkdir -p "$here/target"
"$venv/bin/componentize-py" -d "$here/wit" -w policy \
  componentize --python-path "$here" app -o "$here/target/@NAME@.wasm"
echo "built target/@NAME@.wasm"
