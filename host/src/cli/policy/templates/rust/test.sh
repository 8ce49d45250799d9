#!/usr/bin/env bash
# Runs the native tests, builds the component and runs cases.json against it with
# `wicket policy test` (the `wicket` binary from PATH, or $WICKET).
set -euo pipefail
cd "$(dirname "$0")"

cargo test --quiet
./build.sh
"${WICKET:-wicket}" policy test target/@NAME@.wasm cases.json
