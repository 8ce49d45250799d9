//! `group-access` written in Rust, C, Python and JavaScript: per-decision latency (a fresh
//! instance per decision, the production path `Chain::evaluate`), compile time, and load time
//! from the compiled-module cache (a restart). Every module's decision is asserted before timing.
//!
//! Build the modules first: `cargo build --release --target wasm32-wasip2 -p group-access` and
//! `bash examples/policies/build.sh`; then `cargo bench -p wicket --bench languages`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use wicket::policy::types::{AccessRequest, Identity};
use wicket::policy::{Chain, ChainEntry, EngineConfig, Limits, PolicyEngine, Verdict};

const CASES: &str = include_str!("../../policies/group-access/cases.json");
const LANGUAGES: [&str; 4] = ["rust", "c", "python", "javascript"];

fn module(language: &str) -> (PathBuf, Vec<u8>) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (path, build) = match language {
        "rust" => (
            repo.join("target/wasm32-wasip2/release/group_access.wasm"),
            "cargo build --release --target wasm32-wasip2 -p group-access",
        ),
        _ => (
            repo.join(format!("target/examples/{language}.wasm")),
            "bash examples/policies/build.sh",
        ),
    };
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: build it first: {build}", path.display()));
    (path, bytes)
}

/// The shared table's settings and first allow case, with its expected TTL.
fn inputs() -> (Value, Identity, AccessRequest, u64) {
    let table: Value = serde_json::from_str(CASES).expect("cases.json");
    let case = table["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|case| case["expect"]["decision"] == "allow")
        .expect("an allow case");
    let identity = serde_json::from_value(case["identity"].clone()).expect("identity");
    let mut request = case["request"].clone();
    request["id"] = json!("bench");
    request["requested_at"] = json!("2026-11-21T12:00:00Z");
    let request = serde_json::from_value(request).expect("request");
    let ttl = case["expect"]["grant"]["ttl_seconds"]
        .as_u64()
        .expect("ttl");
    (table["settings"].clone(), identity, request, ttl)
}

fn engine(cache_dir: Option<&Path>) -> PolicyEngine {
    PolicyEngine::new(&EngineConfig {
        cache_dir: cache_dir.map(Path::to_owned),
        ..EngineConfig::default()
    })
    .expect("engine")
}

fn bench(c: &mut Criterion) {
    let (settings, identity, request, ttl) = inputs();
    let cache = tempfile::tempdir().expect("tempdir");

    let mut decisions = c.benchmark_group("decision (fresh instance)");
    for language in LANGUAGES {
        let (path, bytes) = module(language);
        let module = engine(Some(cache.path()))
            .load(language, &bytes, Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let chain = Chain::new(vec![ChainEntry::new(language, Arc::new(module), &settings)])
            .expect("settings accepted");
        let evaluation = chain.evaluate(&identity, &request);
        assert!(
            matches!(&evaluation.verdict, Verdict::Allow { grant } if grant.ttl_seconds == ttl),
            "{language}: {evaluation:#?}"
        );
        decisions.bench_function(language, |b| b.iter(|| chain.evaluate(&identity, &request)));
    }
    decisions.finish();

    let mut loads = c.benchmark_group("load from the cache (restart)");
    for language in LANGUAGES {
        let (_, bytes) = module(language);
        let engine = engine(Some(cache.path()));
        loads.bench_function(language, |b| {
            b.iter(|| {
                let module = engine
                    .load(language, &bytes, Limits::default())
                    .expect("load");
                assert!(module.from_cache(), "{language}: not from the cache");
                module
            });
        });
    }
    loads.finish();

    // Compiling a Python guest takes seconds: few samples.
    let mut compiles = c.benchmark_group("compile");
    compiles
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    let engine = engine(None);
    for language in LANGUAGES {
        let (_, bytes) = module(language);
        compiles.bench_function(language, |b| {
            b.iter(|| {
                engine
                    .load(language, &bytes, Limits::default())
                    .expect("compile")
            });
        });
    }
    compiles.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
