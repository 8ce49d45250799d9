#!/usr/bin/env bash
# Builds the example policies in Python, JavaScript and C into target/examples/<language>.wasm,
# installing their pinned tools into target/tools on first use. (The Rust policies are built by
# `cargo build --release --target wasm32-wasip2`.) Usage: build.sh [python|javascript|c ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
languages=("$@")
[ "${#languages[@]}" -gt 0 ] || languages=(python javascript c)
for language in "${languages[@]}"; do
  bash "$here/$language/build.sh"
done
