#!/usr/bin/env bash
# Builds the component and runs cases.json against it with `wicket policy test` (the `wicket`
# binary from PATH, or $WICKET).
set -euo pipefail
cd "$(dirname "$0")"

./build.sh
"${WICKET:-wicket}" policy test target/@NAME@.wasm cases.json
