#!/usr/bin/env bash
# Builds the policy into target/@NAME@.wasm (a WebAssembly component).
set -euo pipefail
cd "$(dirname "$0")"

# rust-toolchain.toml pins the toolchain and the wasm32-wasip2 target; rustup installs both.
cargo build --release --target wasm32-wasip2
mkdir -p target
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/@CRATE@.wasm" target/@NAME@.wasm
echo "built target/@NAME@.wasm"
