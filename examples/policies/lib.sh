# Shared by the example build scripts (sourced, not run): where tools and modules go, and how a
# missing tool is installed. Every tool is pinned and installed into the build tree, once.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# Pinned tools, installed on first use: a Python venv, node_modules, `cargo install --root`.
tools="$root/target/tools"
# The built modules: target/examples/<language>.wasm.
out="$root/target/examples"
mkdir -p "$tools" "$out"

# Installs those of the Debian packages "$@" that are missing.
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# cargo_tool CRATE VERSION BINARY FEATURES: installs BINARY of CRATE at VERSION, built with only
# FEATURES, into target/tools/bin unless that version is there. Built with little optimisation
# and no LTO: the tools run for milliseconds, and the install takes minutes less.
cargo_tool() {
  local crate=$1 version=$2 binary=$3 features=$4
  if "$tools/bin/$binary" --version 2>/dev/null | grep -qF " $version"; then
    return 0
  fi
  echo "installing $crate $version into target/tools (once)"
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=false \
    cargo install --locked --quiet --root "$tools" --no-default-features --features "$features" \
    "$crate@$version"
}

# up_to_date OUTPUT INPUT...: whether OUTPUT exists and is newer than every INPUT (files or
# directories, searched recursively).
up_to_date() {
  local output=$1
  shift
  [ -f "$output" ] && [ -z "$(find "$@" -newer "$output" -print -quit)" ]
}
