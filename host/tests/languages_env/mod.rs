//! The `group-access` module of each guest language and the shared table, for the `languages`
//! tests and benchmark.

#![allow(dead_code)] // the test and the benchmark each use a different subset of the helpers

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wicket::domain::{AccessRequest, Identity};

/// Every language `group-access` is written in.
pub const LANGUAGES: [&str; 4] = ["rust", "c", "python", "javascript"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The table all four pass.
pub fn cases_path() -> PathBuf {
    repo().join("policies/group-access/cases.json")
}

/// The table, parsed.
pub fn cases() -> Value {
    serde_json::from_str(&std::fs::read_to_string(cases_path()).expect("cases.json"))
        .expect("cases.json is JSON")
}

/// The built module of `language`; panics saying how to build it when it is missing.
pub fn built(language: &str) -> PathBuf {
    let (path, build) = match language {
        "rust" => (
            repo().join("target/wasm32-wasip2/release/group_access.wasm"),
            "cargo build --release --target wasm32-wasip2 -p group-access",
        ),
        _ => (
            repo().join(format!("target/examples/{language}.wasm")),
            "bash examples/policies/build.sh",
        ),
    };
    assert!(path.is_file(), "{} is missing: run {build}", path.display());
    path
}

/// The table's settings and its first case expecting an allow, as host types, with the TTL
/// that case expects.
pub fn allow_case() -> (Value, Identity, AccessRequest, u64) {
    let table = cases();
    let case = table["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|case| case["expect"]["decision"] == "allow")
        .expect("an allow case")
        .clone();
    let identity = serde_json::from_value(case["identity"].clone()).expect("identity");
    let mut request = case["request"].clone();
    request["id"] = json!("languages");
    request["requested_at"] = json!("2026-11-21T12:00:00Z");
    let request = serde_json::from_value(request).expect("request");
    let ttl = case["expect"]["grant"]["ttl_seconds"]
        .as_u64()
        .expect("ttl");
    (table["settings"].clone(), identity, request, ttl)
}
