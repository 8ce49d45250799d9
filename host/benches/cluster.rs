//! Provisioning latency against kube-sim on loopback, as Wicket's production identity
//! (`examples/deploy/wicket-rbac.yaml`): an `edit` grant in one namespace (ServiceAccount,
//! RoleBinding, TokenRequest + kubeconfig), and its teardown, timed separately.
//! Run: `cargo bench -p wicket --bench cluster`.

#[path = "../tests/cluster_env/mod.rs"]
mod cluster_env;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use wicket::domain::Access;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let env = rt.block_on(cluster_env::env(&["payments"]));
    let mut next = 0u64;
    let mut id = move || {
        next += 1;
        format!("bench-{next}")
    };
    let spec =
        |id: &str| cluster_env::spec(id, vec![("payments", Access::Role("edit".into()))], vec![]);

    c.bench_function("provision edit grant (sa, rolebinding, token)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let id = id();
                rt.block_on(async {
                    let start = Instant::now();
                    env.wicket.provision(&spec(&id)).await.expect("provision");
                    total += start.elapsed();
                    env.wicket
                        .teardown(cluster_env::INSTALLATION, &id)
                        .await
                        .expect("teardown");
                });
            }
            total
        });
    });

    c.bench_function("teardown edit grant", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let id = id();
                rt.block_on(async {
                    env.wicket.provision(&spec(&id)).await.expect("provision");
                    let start = Instant::now();
                    env.wicket
                        .teardown(cluster_env::INSTALLATION, &id)
                        .await
                        .expect("teardown");
                    total += start.elapsed();
                });
            }
            total
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
