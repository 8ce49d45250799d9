#!/usr/bin/env bash
# Builds the Python policy into target/examples/python.wasm with componentize-py (pinned in
# requirements.txt, installed into the venv target/tools/python on first use).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib.sh"

venv="$tools/python"
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3 python3-venv
  echo "installing componentize-py into target/tools/python (once)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

module="$out/python.wasm"
if up_to_date "$module" "$here" "$root/wit" "$venv/requirements.txt"; then
  echo "python: $module is up to date"
  exit 0
fi
"$venv/bin/componentize-py" -d "$root/wit" -w policy \
  componentize --python-path "$here" app -o "$module.tmp"
mv "$module.tmp" "$module"
echo "python: built $module ($(stat -c %s "$module") bytes)"
