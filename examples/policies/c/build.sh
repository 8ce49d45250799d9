#!/usr/bin/env bash
# Builds the C policy into target/examples/c.wasm: bindings from `wit-bindgen c`, Debian's
# clang + lld + wasi-libc for a wasm32 reactor module, `wasm-tools component new` for the
# component. wit-bindgen-cli and wasm-tools are installed into target/tools/bin on first use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../lib.sh"

apt_install clang lld wasi-libc libclang-rt-14-dev-wasm32
cargo_tool wit-bindgen-cli 0.63.0 wit-bindgen c
cargo_tool wasm-tools 1.263.0 wasm-tools component

module="$out/c.wasm"
if up_to_date "$module" "$here" "$root/wit"; then
  echo "c: $module is up to date"
  exit 0
fi
work="$root/target/examples/c-build"
rm -rf "$work"
mkdir -p "$work"
"$tools/bin/wit-bindgen" c "$root/wit" --world policy --out-dir "$work" >/dev/null
clang --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 -Wall -Wextra -Werror \
  -I "$work" "$here"/*.c "$work/policy.c" "$work/policy_component_type.o" \
  -Wl,--strip-debug -o "$work/core.wasm"
"$tools/bin/wasm-tools" component new "$work/core.wasm" -o "$module.tmp"
mv "$module.tmp" "$module"
echo "c: built $module ($(stat -c %s "$module") bytes)"
