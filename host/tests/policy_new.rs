//! `wicket policy new` creates, in every language, a project that builds and passes its own cases
//! through the real `wicket policy test` as created, in a temporary directory outside this
//! repository; a Rust project created inside the repository is a workspace of its own and leaves
//! the repository's `Cargo.lock` alone. The Python, JavaScript and C projects embed this wave's
//! WIT package, `wit/policy.wit`.
//!
//! The build tools are the pinned ones `examples/policies/build.sh` installs into `target/tools`
//! (`WICKET_TOOLS`): the projects pin the same versions, so nothing is installed again. Rust
//! projects build into `target/policy-new` (kept between runs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use rstest::rstest;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository")
}

/// The compiled-module cache of this run.
fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `wicket policy new <name> --lang <language> --dir <dir>`.
fn policy_new(name: &str, language: &str, dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wicket"))
        .args(["policy", "new", name, "--lang", language, "--dir"])
        .arg(dir)
        .output()
        .expect("running wicket")
}

#[rstest]
#[case::rust("rust")]
#[case::python("python")]
#[case::javascript("javascript")]
#[case::c("c")]
fn a_new_project_builds_and_passes_its_cases_outside_the_repository(#[case] language: &str) {
    let outside = tempfile::tempdir().expect("tempdir");
    assert!(
        !outside.path().starts_with(repo()),
        "a temporary directory inside the repository"
    );
    let dir = outside.path().join("on-call");
    let created = policy_new("on-call", language, &dir);
    let printed = text(&created.stdout);
    assert!(
        created.status.success(),
        "{printed}{}",
        text(&created.stderr)
    );
    assert!(printed.contains("next: cd "), "{printed}");
    if language == "rust" {
        let sdk = repo().join("sdk");
        assert!(
            printed.contains(&format!("wicket-sdk = {{ path = \"{}\" }}", sdk.display())),
            "{printed}"
        );
        // Started from the checkout's lock, so the crates are the ones already downloaded.
        assert!(dir.join("Cargo.lock").is_file());
    } else {
        let wit = std::fs::read_to_string(dir.join("wit/policy.wit")).expect("wit/policy.wit");
        let current = std::fs::read_to_string(repo().join("wit/policy.wit")).expect("wit");
        assert_eq!(wit, current, "the project embeds this wave's contract");
    }

    let out = Command::new(dir.join("test.sh"))
        .current_dir(&dir)
        .env("WICKET", env!("CARGO_BIN_EXE_wicket"))
        .env("WICKET_CACHE_DIR", cache_dir())
        .env("WICKET_TOOLS", repo().join("target/tools"))
        .env("CARGO_TARGET_DIR", repo().join("target/policy-new"))
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .expect("running test.sh");
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{language}: {stdout}\n{}",
        text(&out.stderr)
    );
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).expect("cases"))
            .expect("cases.json is JSON");
    let count = cases["cases"].as_array().expect("cases").len();
    assert!(
        stdout.contains(&format!("\n{count} passed, 0 failed")),
        "{language}: {stdout}"
    );
    assert!(dir.join("target/on-call.wasm").is_file());
}

#[test]
fn a_rust_project_inside_the_repository_is_a_workspace_of_its_own() {
    let inside = repo().join("target/policy-new-inside");
    std::fs::create_dir_all(&inside).expect("target/policy-new-inside");
    let parent = tempfile::tempdir_in(&inside).expect("tempdir");
    let dir = parent.path().join("inside");
    let created = policy_new("inside", "rust", &dir);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let lock_before = std::fs::read(repo().join("Cargo.lock")).expect("Cargo.lock");

    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--offline", "--format-version", "1"])
        .current_dir(&dir)
        .output()
        .expect("running cargo");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata");
    assert_eq!(
        Path::new(metadata["workspace_root"].as_str().expect("workspace_root")),
        dir.canonicalize().expect("dir"),
    );
    // Its own lock, trimmed to its own dependencies.
    let own_lock = std::fs::read_to_string(dir.join("Cargo.lock")).expect("its Cargo.lock");
    assert!(own_lock.contains("name = \"wicket-sdk\""), "{own_lock}");
    assert!(!own_lock.contains("name = \"wasmtime\""), "{own_lock}");
    assert_eq!(
        std::fs::read(repo().join("Cargo.lock")).expect("Cargo.lock"),
        lock_before,
        "the repository's Cargo.lock changed"
    );
}

#[test]
fn bad_names_and_used_directories_are_bad_input() {
    let outside = tempfile::tempdir().expect("tempdir");
    let out = policy_new("On Call", "python", &outside.path().join("x"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("error: invalid policy name `On Call`"),
        "{}",
        text(&out.stderr)
    );
    assert!(!outside.path().join("x").exists());

    std::fs::write(outside.path().join("mine.txt"), "mine").expect("write");
    let out = policy_new("on-call", "c", outside.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("exists and is not empty"),
        "{}",
        text(&out.stderr)
    );
}
