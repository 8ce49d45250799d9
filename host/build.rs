//! Builds the policies Wicket ships (`policies/*`) for `wasm32-wasip2` with a nested cargo
//! (its own target directory, as wasmtime's test-programs do) so that `wicket dev` embeds
//! them with `include_bytes!` and works from a fresh clone.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The shipped policies: package name and the file name of the built component.
const POLICIES: [(&str, &str); 4] = [
    ("group-access", "group_access.wasm"),
    ("require-ticket", "require_ticket.wasm"),
    ("change-window", "change_window.wasm"),
    ("workload-identity", "workload_identity.wasm"),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("the host crate is inside the workspace");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    for watched in ["policies", "sdk", "contract", "wit", "Cargo.lock"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo::rerun-if-changed=build.rs");
    let target_dir = out_dir.join("policies-target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in POLICIES {
        command.args(["-p", package]);
    }
    // The outer build's settings are for the host, not for the guests.
    for key in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        command.env_remove(key);
    }
    let status = command
        .status()
        .expect("cannot run cargo to build the shipped policies");
    assert!(
        status.success(),
        "building the shipped policies for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)"
    );
    let built = target_dir.join("wasm32-wasip2/release");
    for (_, file) in POLICIES {
        copy(&built.join(file), &out_dir.join(file));
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("cannot copy `{}`: {e}", from.display()));
}
