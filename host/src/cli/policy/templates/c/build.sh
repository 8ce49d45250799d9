#!/usr/bin/env bash
# Builds the policy into target/@NAME@.wasm: bindings from `wit-bindgen c`, clang + lld +
# wasi-libc for a wasm32 reactor module, `wasm-tools component new` for the component.
# wit-bindgen-cli and wasm-tools are pinned below and installed on first use under $WICKET_TOOLS
# (default ~/.cache/wicket/tools), shared by every policy on this machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools="${WICKET_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/wicket/tools}"

for tool in clang wasm-ld; do
  command -v "$tool" >/dev/null || {
    echo "needs clang, lld and wasi-libc (Debian: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)" >&2
    exit 1
  }
done

# cargo_tool CRATE VERSION BINARY FEATURES: installs BINARY of CRATE at VERSION into
# $tools/bin unless that version is there.
cargo_tool() {
  local crate=$1 version=$2 binary=$3 features=$4
  if "$tools/bin/$binary" --version 2>/dev/null | grep -qF " $version"; then
    return 0
  fi
  echo "installing $crate $version into $tools (once)"
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install --locked --quiet --root "$tools" --no-default-features --features "$features" \
    "$crate@$version"
}
cargo_tool wit-bindgen-cli 0.63.0 wit-bindgen c
cargo_tool wasm-tools 1.263.0 wasm-tools component

work="$here/target/c"
rm -rf "$work"
mkdir -p "$work"
"$tools/bin/wit-bindgen" c "$here/wit" --world policy --out-dir "$work" >/dev/null
clang --target=wasm32-wasi -mexec-model=reactor -O2 -std=c11 -Wall -Wextra -Werror \
  -I "$here" -I "$work" "$here"/*.c "$work/policy.c" "$work/policy_component_type.o" \
  -Wl,--strip-debug -o "$work/core.wasm"
"$tools/bin/wasm-tools" component new "$work/core.wasm" -o "$here/target/@NAME@.wasm"
echo "built target/@NAME@.wasm"
