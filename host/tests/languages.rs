//! `group-access` in every guest language — Rust, Python, JavaScript, C — passes the one shared
//! table `policies/group-access/cases.json` through the real `wicket policy test`; the same table
//! with one verdict flipped fails for each, with a diff; a restarted engine loads each module from
//! the compiled-module cache and decides under the default limits exactly as before, and a
//! prepared chain (what the service runs) decides alike.
//!
//! Needs the modules built first (as `tests/run.sh` does): the Rust one with
//! `cargo build --release --target wasm32-wasip2 -p group-access`, the others with
//! `bash examples/policies/build.sh` (into `target/examples/<language>.wasm`).
//!
//! The tests of a run share one cache directory into which each module is compiled once, before
//! its first use: a large guest (Python, JavaScript) takes long to compile in a debug build.

mod languages_env;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

use languages_env::{allow_case, built, cases, cases_path};
use rstest::rstest;
use serde_json::json;
use wicket::domain::Decision;
use wicket::policy::{
    Chain, ChainEntry, EngineConfig, Evaluation, Limits, ModuleResult, PolicyEngine,
};

/// The compiled-module cache every test of this run uses.
fn cache_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"))
        .path()
}

/// The built `group-access` module of `language`, compiled into [`cache_dir`]; panics saying how
/// to build it when missing.
fn module(language: &str) -> PathBuf {
    static COMPILED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let path = built(language);
    // One at a time: tests of the same language wait instead of compiling it in parallel.
    let mut compiled = COMPILED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if compiled.get_or_insert_default().insert(language.to_owned()) {
        let engine = PolicyEngine::new(&EngineConfig {
            cache_dir: Some(cache_dir().to_owned()),
            ..EngineConfig::default()
        })
        .expect("engine");
        engine
            .load_file(&path, Limits::default())
            .expect("module loads");
    }
    path
}

fn policy_test(module: &Path, cases: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wicket"))
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(["policy", "test"])
        .arg(module)
        .arg(cases)
        .output()
        .expect("running wicket")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[rstest]
#[case::rust("rust")]
#[case::python("python")]
#[case::javascript("javascript")]
#[case::c("c")]
fn passes_the_shared_table(#[case] language: &str) {
    let module = module(language);
    let out = policy_test(&module, &cases_path());
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{language}: {stdout}\n{}",
        text(&out.stderr)
    );
    let count = cases()["cases"].as_array().expect("cases").len();
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok   ")).count(),
        count,
        "{language}: {stdout}"
    );
    assert!(
        stdout.contains(&format!("{count} passed, 0 failed")),
        "{stdout}"
    );
}

#[rstest]
#[case::rust("rust")]
#[case::python("python")]
#[case::javascript("javascript")]
#[case::c("c")]
fn fails_a_table_with_a_flipped_verdict(#[case] language: &str) {
    let module = module(language);
    // The first case expecting an allow now expects a deny.
    let mut table = cases();
    let case = table["cases"]
        .as_array_mut()
        .expect("cases")
        .iter_mut()
        .find(|case| case["expect"]["decision"] == "allow")
        .expect("an allow case");
    case["expect"] = json!({"decision": "deny"});
    let name = case["name"].as_str().expect("name").to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let flipped = dir.path().join("flipped.json");
    std::fs::write(&flipped, table.to_string()).expect("write");

    let out = policy_test(&module, &flipped);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{language}: {stdout}");
    assert!(stdout.contains(&format!("FAIL {name}\n")), "{stdout}");
    assert!(stdout.contains("  -   \"decision\": \"deny\""), "{stdout}");
    assert!(stdout.contains("  +   \"decision\": \"allow\""), "{stdout}");
    let count = table["cases"].as_array().expect("cases").len();
    assert!(
        stdout.contains(&format!("{} passed, 1 failed", count - 1)),
        "{stdout}"
    );
}

/// Loads `module` with a new engine on `cache` under the default limits and decides the
/// table's first allow case: whether the load was a cache hit, and the evaluation.
fn restart_and_decide(module: &Path, cache: &Path) -> (bool, Evaluation) {
    let engine = PolicyEngine::new(&EngineConfig {
        cache_dir: Some(cache.to_owned()),
        ..EngineConfig::default()
    })
    .expect("engine");
    let loaded = engine
        .load_file(module, Limits::default())
        .expect("module loads");
    let from_cache = loaded.from_cache();
    let (settings, identity, request, _) = allow_case();
    let chain = Chain::new(vec![ChainEntry::new(
        "group-access",
        Arc::new(loaded),
        &settings,
    )])
    .expect("settings accepted");
    (from_cache, chain.evaluate(&identity, &request))
}

fn granted_ttl(evaluation: &Evaluation) -> u64 {
    match &evaluation.modules[0].result {
        ModuleResult::Decided {
            decision: Decision::Allow { grant },
        } => grant.ttl_seconds,
        other => panic!("expected an allow, got {other:#?}"),
    }
}

#[rstest]
#[case::rust("rust")]
#[case::python("python")]
#[case::javascript("javascript")]
#[case::c("c")]
fn a_restart_loads_from_the_cache_and_decides_alike_under_default_limits(#[case] language: &str) {
    let module = module(language);
    // `module` compiled it into the cache with one engine; others — a restarted Wicket — find it.
    let (first_from_cache, first) = restart_and_decide(&module, cache_dir());
    let (from_cache, second) = restart_and_decide(&module, cache_dir());
    assert!(
        first_from_cache && from_cache,
        "{language}: an engine compiled again"
    );
    let (_, _, _, ttl) = allow_case();
    // Default limits (64 MiB, 100 ms) fit the first call of a fresh instance of every guest.
    assert_eq!(granted_ttl(&first), ttl, "{first:#?}");
    assert_eq!(granted_ttl(&second), ttl, "{second:#?}");
    assert_eq!(first.modules[0].digest, second.modules[0].digest);
}

/// The service prepares its chains (`Chain::prepare`). A module whose validation calls no
/// import is pre-initialised (Rust through the SDK, C); the others keep their original image
/// (Python reads its environment on its first call; the JavaScript component nests core
/// modules, which wizer cannot snapshot). Either way the chain decides as before.
#[rstest]
#[case::rust("rust", true)]
#[case::python("python", false)]
#[case::javascript("javascript", false)]
#[case::c("c", true)]
fn a_prepared_chain_decides_alike(#[case] language: &str, #[case] prepared: bool) {
    let module = module(language);
    let engine = PolicyEngine::new(&EngineConfig {
        cache_dir: Some(cache_dir().to_owned()),
        ..EngineConfig::default()
    })
    .expect("engine");
    let loaded = engine
        .load_file(&module, Limits::default())
        .expect("module loads");
    let (settings, identity, request, ttl) = allow_case();
    let chain = Chain::new(vec![ChainEntry::new(
        "group-access",
        Arc::new(loaded),
        &settings,
    )])
    .expect("settings accepted")
    .prepare();
    assert_eq!(
        chain.entries()[0].module().prepared_for().is_some(),
        prepared,
        "{language}"
    );
    let evaluation = chain.evaluate(&identity, &request);
    assert_eq!(granted_ttl(&evaluation), ttl, "{language}: {evaluation:#?}");
}

#[test]
fn a_cold_cache_compiles_and_a_warm_one_does_not() {
    let module = built("c");
    let cache = tempfile::tempdir().expect("tempdir");
    let (cold, _) = restart_and_decide(&module, cache.path());
    let (warm, evaluation) = restart_and_decide(&module, cache.path());
    assert!(!cold, "a fresh cache directory cannot hold the module");
    assert!(warm, "the second engine compiled again");
    let (_, _, _, ttl) = allow_case();
    assert_eq!(granted_ttl(&evaluation), ttl);
}
