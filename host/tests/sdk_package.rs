//! `wicket-sdk` and `wicket-contract` are self-contained crates: `cargo package` packs both
//! together and builds the SDK from its `.crate` alone, with the contract from the packed one,
//! as a policy outside this repository gets them (`publish = false` or a field inherited from
//! the workspace would fail here; so would a file the SDK reads from outside its directory, such
//! as the WIT package).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository")
}

#[test]
fn the_sdk_and_the_contract_package_together() {
    // A target directory of its own: the one `cargo test` runs from is locked while it runs.
    let target = repo().join("target/sdk-package");
    // `--allow-dirty`: the tests run on working trees with uncommitted changes. The packages are
    // verified (built from the `.crate` files), so the crates they need come from crates.io or
    // its local cache.
    let out = Command::new(env!("CARGO"))
        .args([
            "package",
            "-p",
            "wicket-contract",
            "-p",
            "wicket-sdk",
            "--allow-dirty",
        ])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(repo())
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .expect("running cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Verifying wicket-sdk v0.2.0"), "{stderr}");

    let sdk = target.join("package/wicket-sdk-0.2.0");
    let manifest = std::fs::read_to_string(sdk.join("Cargo.toml")).expect("packed Cargo.toml");
    assert!(manifest.contains("version = \"0.2.0\""), "{manifest}");
    assert!(
        manifest.contains("[dependencies.wicket-contract]"),
        "{manifest}"
    );
    // The WIT package the bindings are generated from travels with the SDK.
    let wit = std::fs::read_to_string(sdk.join("wit/policy.wit")).expect("packed wit/policy.wit");
    assert!(wit.contains("package wicket:policy@0.2.0;"), "{wit}");
    assert!(target.join("package/wicket-contract-0.2.0.crate").is_file());
}

#[test]
fn the_manifests_inherit_nothing_from_the_workspace() {
    for krate in ["sdk", "contract"] {
        let manifest =
            std::fs::read_to_string(repo().join(krate).join("Cargo.toml")).expect("Cargo.toml");
        assert!(
            !manifest.contains("workspace = true") && !manifest.contains(".workspace"),
            "{krate}/Cargo.toml inherits from the workspace:\n{manifest}"
        );
        assert!(
            manifest.contains("\nversion = \"0.2.0\"\n"),
            "{krate}/Cargo.toml"
        );
        assert!(manifest.contains("\n[lints.rust]\n"), "{krate}/Cargo.toml");
    }
}
