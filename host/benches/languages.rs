//! `group-access` written in Rust, C, Python and JavaScript: per-decision latency (a fresh
//! instance per decision, the production path `Chain::evaluate`), compile time, and load time
//! from the compiled-module cache (a restart). Every module's decision is asserted before timing.
//!
//! Build the modules first: `cargo build --release --target wasm32-wasip2 -p group-access` and
//! `bash examples/policies/build.sh`; then `cargo bench -p wicket --bench languages`.

#[path = "../tests/languages_env/mod.rs"]
mod languages_env;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use languages_env::{LANGUAGES, allow_case, built};
use wicket::policy::{Chain, ChainEntry, EngineConfig, Limits, PolicyEngine, Verdict};

/// The module's path and bytes.
fn module(language: &str) -> (std::path::PathBuf, Vec<u8>) {
    let path = built(language);
    let bytes = std::fs::read(&path).expect("module");
    (path, bytes)
}

fn engine(cache_dir: Option<&Path>) -> PolicyEngine {
    PolicyEngine::new(&EngineConfig {
        cache_dir: cache_dir.map(Path::to_owned),
        ..EngineConfig::default()
    })
    .expect("engine")
}

fn bench(c: &mut Criterion) {
    let (settings, identity, request, ttl) = allow_case();
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
