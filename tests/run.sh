#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine with rustup: installs what it needs,
# builds the shipped policies to wasm32-wasip2, then runs every test tier.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
# One build from scratch: incremental caches would only take disk (gigabytes) and time.
export CARGO_INCREMENTAL=0
disk() { printf 'disk: %s free, target/ %s\n' "$(df -h --output=avail . | tail -1 | tr -d ' ')" "$(du -sh target 2>/dev/null | cut -f1)"; }

step "toolchain"
disk
rustup target add wasm32-wasip2 >/dev/null
# the end-to-end tests run the curl and kubectl commands `wicket dev` prints
if ! command -v curl >/dev/null; then apt-get update -qq && apt-get install -y -qq curl >/dev/null; fi
command -v kubectl >/dev/null || { echo "error: no kubectl on PATH: the end-to-end tests drive real kubectl" >&2; exit 2; }
# the store tests start their own PostgreSQL servers (tests/src/postgres.rs): its programs, and
# the unprivileged user `postgres` to run them as (the tests run as root here)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

step "policies -> wasm32-wasip2 (target/wasm32-wasip2/release/*.wasm)"
policy_pkgs=()
for manifest in policies/*/Cargo.toml; do
  policy_pkgs+=(-p "$(basename "$(dirname "$manifest")")")
done
cargo build --locked --release --target wasm32-wasip2 "${policy_pkgs[@]}"

step "example policies in Python, JavaScript and C -> target/examples/*.wasm (tools: target/tools)"
bash examples/policies/build.sh

step "tests"
cargo test --locked --workspace

step "lint"
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
disk
