//! Cost of the store writes one access request makes (alone, and 64 at once as a burst makes
//! them: what the group commit shares), and of verifying the audit chain. Every write is
//! durable (`synchronous = FULL`), so a lone write costs an `fsync` of the disk under the
//! temporary directory.
//!
//! `cargo bench -p wicket --bench store`

use std::hint::black_box;
use wicket::domain::{AccessRequest, Decision, Identity, ModuleVerdict, RequestState};

use criterion::{Criterion, criterion_group, criterion_main};
use wicket::audit::{self, Actor, AuthenticationFailures, Details};
use wicket::policy::Verdict;
use wicket::store::{Decided, SqliteStore, Store, Transition};
use wicket::workflow::new_request_id;

const REQUEST: &str = include_str!("../src/store/fixtures/request.json");
const IDENTITY: &str = include_str!("../src/store/fixtures/identity.json");
const ALLOW: &str = include_str!("../src/store/fixtures/allow.json");

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn writes(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("wicket.db")))
        .expect("the store opens");
    let mut request: AccessRequest = serde_json::from_str(REQUEST).expect("request fixture");
    let identity: Identity = serde_json::from_str(IDENTITY).expect("identity fixture");
    let allow: Decision = serde_json::from_str(ALLOW).expect("decision fixture");
    let workflow = Actor::service("workflow");
    let mut n = 0u64;

    c.bench_function(
        "insert_decided (denied by the first of three modules)",
        |b| {
            let deny = Decision::Deny {
                reason: "module `groups`: namespace `payments` is not allowed for your groups"
                    .into(),
            };
            // What the service stores for a denial by `wicket dev`'s chain: every module's part.
            let modules: Vec<ModuleVerdict> =
                [("groups", &deny), ("window", &allow), ("tickets", &allow)]
                    .into_iter()
                    .map(|(module, decision)| ModuleVerdict {
                        module: module.to_owned(),
                        digest: "9349df4c6ad5c1293d313085a313eaea311e2c291d8bc84f49f22da227171169"
                            .to_owned(),
                        decision: Some(decision.clone()),
                        duration_us: 12,
                        error: None,
                        skipped_after: None,
                    })
                    .collect();
            let verdict = deny.clone().into();
            b.iter(|| {
                // Ids as the service makes them, so that indexes see the same spread.
                request.id = new_request_id();
                rt.block_on(store.insert_decided(Decided {
                    request: black_box(&request),
                    requester: &identity,
                    decision: &verdict,
                    modules: &modules,
                    to: RequestState::Denied,
                    actor: &workflow,
                    also: &[],
                    due_at: None,
                }))
                .expect("deny")
            })
        },
    );
    c.bench_function("transition (approved -> provisioning)", |b| {
        b.iter_batched(
            || {
                n += 1;
                request.id = format!("move-{n}");
                rt.block_on(store.insert_decided(Decided {
                    request: &request,
                    requester: &identity,
                    decision: &allow.clone().into(),
                    modules: &[],
                    to: RequestState::Approved,
                    actor: &workflow,
                    also: &[],
                    due_at: None,
                }))
                .expect("setup");
                request.id.clone()
            },
            |id| {
                rt.block_on(store.transition(Transition {
                    id: &id,
                    from: RequestState::Approved,
                    to: RequestState::Provisioning,
                    actor: &workflow,
                    note: None,
                    detail: None,
                    expires_at: None,
                }))
                .expect("transition")
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

/// Denials stored by `CLIENTS` callers at once, as a burst of requests makes them: what the
/// group commit shares (one transaction and one `fsync` for the writes waiting together).
fn concurrent_writes(c: &mut Criterion) {
    const CLIENTS: usize = 64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("wicket.db")))
        .expect("the store opens");
    let request: AccessRequest = serde_json::from_str(REQUEST).expect("request fixture");
    let identity: Identity = serde_json::from_str(IDENTITY).expect("identity fixture");
    let deny: Verdict = Decision::Deny {
        reason: "namespace `payments` is not allowed for your groups".into(),
    }
    .into();
    let mut group = c.benchmark_group("concurrent");
    group.throughput(criterion::Throughput::Elements(CLIENTS as u64));
    group.bench_function(format!("insert_decided x{CLIENTS} at once"), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = std::time::Instant::now();
                for _ in 0..iters {
                    let tasks: Vec<_> = (0..CLIENTS)
                        .map(|_| {
                            let (store, mut request) = (store.clone(), request.clone());
                            let (identity, deny) = (identity.clone(), deny.clone());
                            tokio::spawn(async move {
                                request.id = new_request_id();
                                store
                                    .insert_decided(Decided {
                                        request: &request,
                                        requester: &identity,
                                        decision: &deny,
                                        modules: &[],
                                        to: RequestState::Denied,
                                        actor: &Actor::service("policy"),
                                        also: &[],
                                        due_at: None,
                                    })
                                    .await
                                    .expect("deny");
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("a writer task");
                    }
                }
                started.elapsed()
            })
        })
    });
    group.finish();
}

fn verify(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = rt
        .block_on(SqliteStore::open(&dir.path().join("wicket.db")))
        .expect("the store opens");
    rt.block_on(async {
        // A hundred at a time, so that they share commits.
        for round in 0..100 {
            let mut appends = tokio::task::JoinSet::new();
            for n in 0..100 {
                let store = store.clone();
                appends.spawn(async move {
                    let details = Details::AuthenticationFailed(AuthenticationFailures::Single {
                        code: "expired".into(),
                        message: format!("attempt {round}.{n}: token is expired"),
                    });
                    store
                        .append_audit(None, &Actor::Anonymous, &details)
                        .await
                        .map(drop)
                });
            }
            while let Some(appended) = appends.join_next().await {
                appended.expect("an append task")?;
            }
        }
        Ok::<_, wicket::store::Error>(())
    })
    .expect("seeding");
    let mut group = c.benchmark_group("audit");
    group.sample_size(10);
    group.bench_function("verify 10k events", |b| {
        b.iter(|| {
            let report = rt
                .block_on(audit::verify(&store, Vec::new()))
                .expect("verify");
            assert!(report.is_intact());
        })
    });
    group.finish();
}

criterion_group!(benches, writes, concurrent_writes, verify);
criterion_main!(benches);
