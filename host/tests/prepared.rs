//! Pre-initialised chains (`Chain::prepare`, what the service runs) decide every case of every
//! shipped policy's cases file as expected, and the shipped policies are in fact prepared.
//!
//! Needs the policies built first (as `tests/run.sh` does):
//! `cargo build --release --target wasm32-wasip2 -p group-access -p change-window -p require-ticket -p workload-identity`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wicket::policy::cases::{self, Plan};
use wicket::policy::{Chain, ChainEntry, EngineConfig, Limits, PolicyEngine};

fn shipped() -> Vec<(PathBuf, PathBuf)> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found: Vec<(PathBuf, PathBuf)> = std::fs::read_dir(repo.join("policies"))
        .expect("policies/")
        .map(|entry| entry.expect("entry").path())
        .filter(|dir| dir.join("cases.json").is_file())
        .map(|dir| {
            let name = dir
                .file_name()
                .expect("name")
                .to_string_lossy()
                .replace('-', "_");
            let module = repo.join(format!("target/wasm32-wasip2/release/{name}.wasm"));
            assert!(
                module.is_file(),
                "{} is missing: build the policies first",
                module.display()
            );
            (module, dir.join("cases.json"))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn prepared_chains_pass_every_shipped_case() {
    let cache = tempfile::tempdir().expect("cache dir");
    let engine = PolicyEngine::new(&EngineConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..EngineConfig::default()
    })
    .expect("engine");
    let policies = shipped();
    assert_eq!(policies.len(), 4, "{policies:?}");
    let mut decided = 0;
    for (module_path, cases_path) in policies {
        let module = Arc::new(
            engine
                .load_file(&module_path, Limits::default())
                .expect("loads"),
        );
        let file = cases::read(&cases_path).expect("cases file");
        let plans = file.plans(jiff::Timestamp::now()).expect("plans");
        let mut chains: HashMap<String, Chain> = HashMap::new();
        for (case, plan) in file.cases.iter().zip(plans) {
            let Plan::Decide { identity, request } = plan else {
                continue;
            };
            let settings = case.settings.as_ref().unwrap_or(&file.settings);
            let chain = chains.entry(settings.to_string()).or_insert_with(|| {
                let entry = ChainEntry::new("entry", Arc::clone(&module), settings);
                let chain = Chain::new(vec![entry])
                    .expect("settings accepted")
                    .prepare();
                assert_eq!(
                    chain.entries()[0].module().prepared_for(),
                    Some(settings.to_string().as_str()),
                    "{} must be pre-initialised",
                    module_path.display()
                );
                chain
            });
            let evaluation = chain.evaluate(&identity, &request);
            let outcome = cases::decided(evaluation.modules[0].result.clone());
            assert_eq!(
                cases::compare(&case.expect, &outcome),
                None,
                "{}: case `{}`",
                cases_path.display(),
                case.name
            );
            decided += 1;
        }
    }
    assert!(decided > 50, "only {decided} cases decided");
}

/// Preparing is deterministic, so a restarted (or reloading) Wicket finds both compiles it
/// needs — the instrumented module and the snapshot — in the cache: three artifacts for one
/// module and one settings value, however many times it is prepared.
#[test]
fn preparing_again_hits_the_cache() {
    let cache = tempfile::tempdir().expect("cache dir");
    let (module_path, cases_path) = shipped()
        .into_iter()
        .find(|(module, _)| module.ends_with("require_ticket.wasm"))
        .expect("require-ticket");
    let settings = cases::read(&cases_path).expect("cases file").settings;
    let artifacts = || {
        std::fs::read_dir(cache.path())
            .expect("cache dir")
            .filter(|entry| {
                entry.as_ref().expect("entry").path().extension() == Some("cwasm".as_ref())
            })
            .count()
    };
    for _ in 0..2 {
        let engine = PolicyEngine::new(&EngineConfig {
            cache_dir: Some(cache.path().to_owned()),
            ..EngineConfig::default()
        })
        .expect("engine");
        let module = engine
            .load_file(&module_path, Limits::default())
            .expect("loads");
        let chain = Chain::new(vec![ChainEntry::new("ticket", Arc::new(module), &settings)])
            .expect("settings accepted")
            .prepare();
        assert!(chain.entries()[0].module().prepared_for().is_some());
        assert_eq!(artifacts(), 3);
    }
}
