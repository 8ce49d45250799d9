//! Hot reload: the time from a module file landing to the first decision by the new version,
//! with a cached compiled artifact and cold (compiled on the spot), and the swap itself.
//!
//! `cargo bench -p wicket --bench reload`. The module is the shipped `group-access`; another
//! one (e.g. a Python policy) is measured with `WICKET_BENCH_MODULE=<file.wasm>` and
//! `WICKET_BENCH_SETTINGS=<settings JSON>`. Each "new version" is the module with a custom
//! section appended, so its digest is new while its code is the same. The watcher's debounce
//! (`reload.debounce`, 250 ms by default) comes on top of the file-to-decision figures.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use criterion::{Criterion, criterion_group, criterion_main};
use wicket::app::PolicyChains;
use wicket::config::Config;
use wicket::policy::types::{AccessRequest, Identity};
use wicket::policy::{EngineConfig, PolicyEngine, PolicySet};
use wicket::workflow::Decider;

fn module_and_settings() -> (Vec<u8>, String) {
    match std::env::var_os("WICKET_BENCH_MODULE") {
        Some(path) => (
            std::fs::read(&path).expect("WICKET_BENCH_MODULE is readable"),
            std::env::var("WICKET_BENCH_SETTINGS").unwrap_or_else(|_| "{}".to_owned()),
        ),
        None => (
            wicket::embedded::GROUP_ACCESS.to_vec(),
            r#"{"allow": [{"groups": ["bench:sre"], "clusters": ["dev"], "namespaces": ["orders"], "roles": ["view"], "max_ttl_seconds": 600}]}"#
                .to_owned(),
        ),
    }
}

/// The module with a custom section naming `version` appended: same code, new digest.
fn variant(module: &[u8], version: u64) -> Vec<u8> {
    let name = b"wicket-bench-version";
    let payload = version.to_le_bytes();
    let mut section = Vec::new();
    leb128(&mut section, name.len() as u64);
    section.extend_from_slice(name);
    section.extend_from_slice(&payload);
    let mut bytes = module.to_vec();
    bytes.push(0);
    leb128(&mut bytes, section.len() as u64);
    bytes.extend_from_slice(&section);
    bytes
}

fn leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn land(path: &Path, bytes: &[u8]) {
    let temp = path.with_extension("partial");
    std::fs::write(&temp, bytes).expect("write");
    std::fs::rename(&temp, path).expect("rename");
}

fn config(dir: &Path, settings: &str) -> Config {
    let text = r#"dev = true
[[issuers]]
alias = "bench"
issuer = "bench"
audiences = ["wicket"]
algorithms = ["HS256"]
hs256_secret = "0123456789abcdef0123456789abcdef"
[[clusters]]
name = "dev"
kubeconfig = "admin.kubeconfig"
server = "https://127.0.0.1:6443"
[[clusters.policies]]
name = "gate"
module = "gate.wasm"
"#;
    let mut config = Config::parse(text, "bench.toml", dir).expect("a valid configuration");
    config.clusters[0].policies[0].settings =
        serde_json::from_str(settings).expect("the settings are a JSON object");
    config
}

fn request() -> (Identity, AccessRequest) {
    let identity = serde_json::from_value(serde_json::json!({
        "subject": "alice", "issuer": "bench", "groups": ["bench:sre"]
    }))
    .expect("identity");
    let request = serde_json::from_value(serde_json::json!({
        "id": "r1", "cluster": "dev", "namespaces": ["orders"], "role": "view",
        "duration_seconds": 600, "reason": "INC-1", "requested_at": "2026-11-21T10:00:00Z"
    }))
    .expect("request");
    (identity, request)
}

/// Lands a new version, reloads, and decides until the decision names the new digest.
fn land_and_decide(
    runtime: &tokio::runtime::Runtime,
    chains: &PolicyChains,
    path: &Path,
    bytes: &[u8],
    digest: &str,
) -> Duration {
    let (identity, request) = request();
    let started = Instant::now();
    land(path, bytes);
    let lifecycle = chains.lifecycle().expect("reloadable");
    let report = runtime.block_on(lifecycle.reload("bench"));
    assert!(report.rejected.is_empty(), "{report:?}");
    let verdict = runtime
        .block_on(chains.decide(&identity, &request))
        .expect("a decision")
        .expect("a chain");
    let took = started.elapsed();
    assert_eq!(verdict.modules[0].digest, digest);
    took
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn reload(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (module, settings) = module_and_settings();
    let mut group = c.benchmark_group("reload");
    let mut sets: Vec<Arc<PolicySet>> = Vec::new();
    group.sample_size(20);
    for cached in [true, false] {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("gate.wasm");
        let config = config(dir.path(), &settings);
        let engine = Arc::new(
            PolicyEngine::new(&EngineConfig {
                cache_dir: cached.then(|| dir.path().join("cache")),
                ..EngineConfig::default()
            })
            .expect("engine"),
        );
        // Two versions to alternate between; with the cache, both are compiled once first.
        let versions = [variant(&module, 1), variant(&module, 2)];
        let digests = [sha256(&versions[0]), sha256(&versions[1])];
        land(&path, &versions[1]);
        let chains = PolicyChains::load(Arc::clone(&engine), &config.clusters).expect("loads");
        let mut next = 0u64;
        if cached {
            land_and_decide(&runtime, &chains, &path, &versions[0], &digests[0]);
            sets.push(chains.current());
            land_and_decide(&runtime, &chains, &path, &versions[1], &digests[1]);
            sets.push(chains.current());
        }
        let name = if cached {
            "file landed to first decision (cached artifact)"
        } else {
            "file landed to first decision (cold compile)"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    next += 1;
                    let (bytes, digest) = if cached {
                        let i = (next % 2) as usize;
                        (versions[i].clone(), digests[i].clone())
                    } else {
                        // A version never seen: nothing to reuse, nothing cached.
                        let bytes = variant(&module, 1000 + next);
                        let digest = sha256(&bytes);
                        (bytes, digest)
                    };
                    total += land_and_decide(&runtime, &chains, &path, &bytes, &digest);
                }
                total
            });
        });
    }
    // The swap itself: replacing the serving set, as a reload does once the new one is built.
    let live = ArcSwap::new(Arc::clone(&sets[0]));
    let mut i = 0;
    group.bench_function("swap", |b| {
        b.iter(|| {
            i ^= 1;
            live.store(Arc::clone(&sets[i]));
        });
    });
    group.finish();
}

criterion_group!(benches, reload);
criterion_main!(benches);
