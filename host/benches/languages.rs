//! `group-access` written in Rust (`no_std` and `std`), C, Python and JavaScript: per-decision
//! latency with a fresh instance per decision, as the service runs it (`Chain::prepare`, then
//! `Chain::evaluate`: instances start from a snapshot taken after the module accepted its
//! settings, where the module allows one) and without the snapshot; compile time, and load time
//! from the compiled-module cache (a restart). Every module's decision is asserted before timing
//! and on every timed iteration (a decision that failed closed is fast and must not pass for a
//! fast decision); each module's size and whether it was prepared are printed first.
//!
//! Build the modules first:
//! ```text
//! cargo build --release --target wasm32-wasip2 -p group-access --features wicket-sdk/std
//! cp target/wasm32-wasip2/release/group_access.wasm target/examples/rust-std.wasm
//! cargo build --release --target wasm32-wasip2 -p group-access
//! bash examples/policies/build.sh
//! ```
//! then `cargo bench -p wicket --bench languages` (a group alone: `-- "as the service"`).

#[path = "../tests/languages_env/mod.rs"]
mod languages_env;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use languages_env::{LANGUAGES, allow_case, built};
use wicket::policy::{Chain, ChainEntry, EngineConfig, Limits, PolicyEngine, Verdict};

/// The Rust policy built with the SDK's `std` feature (see the build commands above).
const RUST_STD: &str = "rust-std";

/// Every module measured: the four languages, and the Rust one with `std` linked.
fn variants() -> Vec<(&'static str, PathBuf)> {
    let mut variants: Vec<_> = LANGUAGES
        .iter()
        .map(|language| (*language, built(language)))
        .collect();
    let std = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/examples/rust-std.wasm");
    assert!(
        std.is_file(),
        "{} is missing: see the build commands in host/benches/languages.rs",
        std.display()
    );
    variants.insert(1, (RUST_STD, std));
    variants
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
    let variants = variants();

    for (group, prepared) in [
        ("decision (fresh instance, as the service runs it)", true),
        ("decision (fresh instance, not prepared)", false),
    ] {
        let mut decisions = c.benchmark_group(group);
        for (name, path) in &variants {
            let bytes = std::fs::read(path).expect("module");
            let module = engine(Some(cache.path()))
                .load(name, &bytes, Limits::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut chain = Chain::new(vec![ChainEntry::new(*name, Arc::new(module), &settings)])
                .expect("settings accepted");
            if prepared {
                chain = chain.prepare();
                eprintln!(
                    "{name}: {} bytes, prepared: {}",
                    bytes.len(),
                    chain.entries()[0].module().prepared_for().is_some()
                );
            }
            let evaluation = chain.evaluate(&identity, &request);
            assert!(
                matches!(&evaluation.verdict, Verdict::Allow { grant } if grant.ttl_seconds == ttl),
                "{name}: {evaluation:#?}"
            );
            decisions.bench_function(*name, |b| {
                b.iter(|| {
                    let evaluation = chain.evaluate(black_box(&identity), black_box(&request));
                    assert!(
                        matches!(evaluation.verdict, Verdict::Allow { .. }),
                        "{name}: {evaluation:?}"
                    );
                    black_box(evaluation)
                });
            });
        }
        decisions.finish();
    }

    let mut loads = c.benchmark_group("load from the cache (restart)");
    for (name, path) in &variants {
        let bytes = std::fs::read(path).expect("module");
        let engine = engine(Some(cache.path()));
        loads.bench_function(*name, |b| {
            b.iter(|| {
                let module = engine.load(name, &bytes, Limits::default()).expect("load");
                assert!(module.from_cache(), "{name}: not from the cache");
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
    for (name, path) in &variants {
        let bytes = std::fs::read(path).expect("module");
        compiles.bench_function(*name, |b| {
            b.iter(|| {
                engine
                    .load(name, &bytes, Limits::default())
                    .expect("compile")
            });
        });
    }
    compiles.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
