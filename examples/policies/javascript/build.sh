#!/usr/bin/env bash
# Builds the JavaScript policy into target/examples/javascript.wasm with componentize-qjs (the
# QuickJS engine behind `jco componentize --backend quickjs`), pinned in package-lock.json and
# installed into target/tools/javascript/node_modules on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib.sh"

command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
js="$tools/javascript"
if ! cmp -s "$here/package-lock.json" "$js/installed-lock.json"; then
  echo "installing componentize-qjs into target/tools/javascript (once)"
  rm -rf "$js"
  mkdir -p "$js"
  cp "$here/package.json" "$here/package-lock.json" "$js/"
  # `npm install` rather than `npm ci`: the lock lists platform bindings that are not published
  # for every platform, which `npm ci` refuses; the versions still come from the lock.
  (cd "$js" && npm install --no-audit --no-fund --loglevel=error)
  cp "$here/package-lock.json" "$js/installed-lock.json"
fi

module="$out/javascript.wasm"
if up_to_date "$module" "$here/policy.js" "$root/wit" "$js/installed-lock.json"; then
  echo "javascript: $module is up to date"
  exit 0
fi
# --sync: no component-model async ABI (the host calls synchronously). WASI stays linked (not
# --stub-wasi) so that an uncaught exception's message and stack reach the captured stderr.
"$js/node_modules/.bin/componentize-qjs" --wit "$root/wit" --world policy --sync \
  --js "$here/policy.js" -o "$module.tmp" >/dev/null
mv "$module.tmp" "$module"
echo "javascript: built $module ($(stat -c %s "$module") bytes)"
