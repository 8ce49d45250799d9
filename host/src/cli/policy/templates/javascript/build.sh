#!/usr/bin/env bash
# Builds the policy into target/@NAME@.wasm with componentize-qjs (the QuickJS engine behind
# `jco componentize --backend quickjs`), pinned in tools/package-lock.json and installed on first
# use under $WICKET_TOOLS (default ~/.cache/wicket/tools), shared by every policy on this machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools="${WICKET_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/wicket/tools}"
js="$tools/javascript"

if ! cmp -s "$here/tools/package-lock.json" "$js/installed-lock.json"; then
  command -v npm >/dev/null || {
    echo "needs Node.js and npm (Debian: apt-get install nodejs npm)" >&2
    exit 1
  }
  echo "installing componentize-qjs into $js (once)"
  rm -rf "$js"
  mkdir -p "$js"
  cp "$here/tools/package.json" "$here/tools/package-lock.json" "$js/"
  # `npm install` rather than `npm ci`: the lock lists platform bindings that are not published
  # for every platform, which `npm ci` refuses; the versions still come from the lock.
  (cd "$js" && npm install --no-audit --no-fund --loglevel=error)
  cp "$here/tools/package-lock.json" "$js/installed-lock.json"
fi

mkdir -p "$here/target"
# --sync: no component-model async ABI (the host calls synchronously). WASI stays linked so that
# an uncaught exception's message and stack reach the captured stderr.
"$js/node_modules/.bin/componentize-qjs" --wit "$here/wit" --world policy --sync \
  --js "$here/policy.js" -o "$here/target/@NAME@.wasm" >/dev/null
echo "built target/@NAME@.wasm"
