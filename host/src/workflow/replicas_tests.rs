//! Two replicas on one store file (two `SqliteStore`s, two `Workflow`s, one cluster): every
//! timer fires once, somewhere. A grant armed by a replica that stopped ends on time on the
//! other; with both alive each grant is torn down once and audited once; a replica killed
//! mid-provisioning (its runtime dropped) is rolled back by the other; one reconciler sweeps at
//! a time.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::tests::{Fixed, Memory, allow, body, eventually, object, settings};
use super::*;
use crate::store::SqliteStore;
use crate::store::tests::identity;

/// A replica named `name` on the store file at `path`, provisioning on `cluster`.
async fn replica(path: &Path, name: &str, cluster: &Arc<Memory>) -> Workflow {
    let store = SqliteStore::open(path).await.unwrap();
    Workflow::new(
        Arc::new(store),
        Arc::new(Fixed(allow())),
        cluster.clone(),
        Settings {
            replica: name.into(),
            ..settings()
        },
    )
}

fn on_cluster(cluster: &Memory, id: &str) -> usize {
    lock(&cluster.objects)
        .iter()
        .filter(|o| o.request_id.as_deref() == Some(id))
        .count()
}

fn teardowns(cluster: &Memory, id: &str) -> usize {
    lock(&cluster.teardowns)
        .iter()
        .filter(|(torn, _)| torn == id)
        .count()
}

async fn events(workflow: &Workflow, id: &str) -> Vec<crate::audit::AuditEvent> {
    workflow.store().audit_events_of(id, 1000).await.unwrap()
}

fn count(events: &[crate::audit::AuditEvent], kind: &str, to: Option<&str>) -> usize {
    events
        .iter()
        .filter(|e| e.kind == kind && to.is_none_or(|to| e.details["to"] == to))
        .count()
}

async fn short_grant(workflow: &Workflow, seconds: i64) -> RequestRecord {
    let mut short = body();
    short.duration = DurationValue::Seconds(seconds);
    let record = workflow
        .submit(&identity("alice"), short)
        .await
        .unwrap()
        .record;
    assert_eq!(record.state, RequestState::Active);
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_armed_by_a_stopped_replica_ends_on_time_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wicket.db");
    let cluster = Arc::new(Memory::default());
    let a = replica(&path, "a", &cluster).await;
    let b = replica(&path, "b", &cluster).await;
    a.start().await.unwrap();
    b.start().await.unwrap();
    let record = short_grant(&a, 1).await;
    assert_eq!(b.armed_timers(), 0, "b never heard of it");
    a.shutdown();
    eventually("b to end the grant", async || {
        b.store().get_request(&record.id).await.unwrap().state == RequestState::Expired
    })
    .await;
    assert_eq!(on_cluster(&cluster, &record.id), 0);
    let events = events(&b, &record.id).await;
    let expired = events
        .iter()
        .find(|e| e.details["to"] == "expired")
        .unwrap();
    assert_eq!(expired.actor["component"], "expiry");
    assert!(
        expired.time >= record.expires_at.unwrap(),
        "not before its time"
    );
    assert_eq!(count(&events, "object_deleted", None), 2);
    assert_eq!(count(&events, "state_changed", Some("expired")), 1);
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_both_replicas_alive_each_grant_is_torn_down_and_audited_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wicket.db");
    let cluster = Arc::new(Memory::default());
    let a = replica(&path, "a", &cluster).await;
    let b = replica(&path, "b", &cluster).await;
    a.start().await.unwrap();
    b.start().await.unwrap();
    let mut grants = Vec::new();
    for n in 0..6 {
        let by = if n % 2 == 0 { &a } else { &b };
        grants.push(short_grant(by, 1).await);
    }
    // Each replica arms a timer for every grant: both wake at each expiry and race.
    a.reconcile().await.unwrap();
    b.reconcile().await.unwrap();
    assert_eq!((a.armed_timers(), b.armed_timers()), (6, 6));
    for grant in &grants {
        eventually("the grant to expire", async || {
            a.store().get_request(&grant.id).await.unwrap().state == RequestState::Expired
        })
        .await;
    }
    for grant in &grants {
        let events = events(&a, &grant.id).await;
        assert_eq!(count(&events, "object_deleted", None), 2, "{events:#?}");
        assert_eq!(count(&events, "state_changed", Some("expired")), 1);
        assert_eq!(teardowns(&cluster, &grant.id), 1, "torn down once");
        assert_eq!(on_cluster(&cluster, &grant.id), 0);
    }
    let report = crate::audit::verify(&**a.store(), Vec::new())
        .await
        .unwrap();
    assert!(report.is_intact(), "{report}");
    a.shutdown();
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_provisioning_is_rolled_back_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wicket.db");
    let cluster = Arc::new(Memory::default());
    let b = replica(&path, "b", &cluster).await;
    b.start().await.unwrap();
    *lock(&cluster.provision_delay) = Some(Duration::from_secs(3600));
    // Replica `a` on a runtime of its own, dropped mid-provisioning: every task of it, its
    // store's writer included, stops where it is, as a killed process would.
    let (a_path, a_cluster) = (path.clone(), cluster.clone());
    let id = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let id = runtime.block_on(async {
            let a = replica(&a_path, "a", &a_cluster).await;
            a.start().await.unwrap();
            let submitting = a.clone();
            tokio::spawn(async move { submitting.submit(&identity("alice"), body()).await });
            eventually("provisioning to start", async || {
                !lock(&a_cluster.objects).is_empty()
            })
            .await;
            // A few heartbeats: the deadline moves ahead while `a` works.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            lock(&a_cluster.objects)[0].request_id.clone().unwrap()
        });
        runtime.shutdown_background();
        id
    })
    .join()
    .unwrap();
    assert_eq!(
        b.store().get_request(&id).await.unwrap().state,
        RequestState::Provisioning,
        "a was still at it when it died"
    );
    eventually("b to roll it back", async || {
        b.store().get_request(&id).await.unwrap().state == RequestState::Failed
    })
    .await;
    assert_eq!(on_cluster(&cluster, &id), 0, "no orphan");
    let record = b.store().get_request(&id).await.unwrap();
    assert!(
        record.error.as_deref().unwrap().contains("rolled back"),
        "{record:?}"
    );
    let events = events(&b, &id).await;
    assert_eq!(count(&events, "object_deleted", None), 1, "{events:#?}");
    assert_eq!(count(&events, "state_changed", Some("failed")), 1);
    b.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_sweeps_at_a_time_and_leaves_live_requests_to_their_timers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wicket.db");
    let cluster = Arc::new(Memory::default());
    let a = replica(&path, "a", &cluster).await;
    let b = replica(&path, "b", &cluster).await;
    let live = short_grant(&a, 3600).await;
    // A request `b` is provisioning (its deadline held ahead), with an object already created.
    let request = body()
        .validate(&b.inner.bounds, "cafe01".into(), now())
        .unwrap();
    let in_progress = InFlight::new(&b.inner, "cafe01");
    b.store()
        .insert_decided(Decided {
            request: &request,
            requester: &identity("alice"),
            decision: &allow().into(),
            modules: &[],
            to: RequestState::Approved,
            actor: &actor("policy"),
            also: &[],
            due_at: Some(b.deadline()),
        })
        .await
        .unwrap();
    lock(&cluster.objects).push(ManagedObject {
        object: object("ServiceAccount", "wicket-system", "cafe01"),
        request_id: Some("cafe01".into()),
        expires_at: None,
    });
    let orphan = || ManagedObject {
        object: object("Role", "payments", "orphan"),
        request_id: None,
        expires_at: None,
    };
    lock(&cluster.objects).push(orphan());

    let swept = b.reconcile().await.unwrap();
    assert!(!swept.elsewhere);
    assert_eq!(swept.deleted, 1, "the orphan only: {swept:?}");
    lock(&cluster.objects).push(orphan());
    let skipped = a.reconcile().await.unwrap();
    assert!(skipped.elsewhere, "b holds the lease");
    assert_eq!(skipped.deleted, 0);
    assert!(lock(&cluster.objects).contains(&orphan()));
    assert_eq!(
        on_cluster(&cluster, &live.id),
        2,
        "an active grant's objects stay"
    );
    assert_eq!(
        on_cluster(&cluster, "cafe01"),
        1,
        "b's work in progress stays"
    );

    // `b` hands the lease on (as its lease would end if it died).
    assert!(
        a.store()
            .release_lease(reconcile::RECONCILER_LEASE, "b")
            .await
            .unwrap()
    );
    let swept = a.reconcile().await.unwrap();
    assert_eq!((swept.elsewhere, swept.deleted), (false, 1));
    assert_eq!(on_cluster(&cluster, "cafe01"), 1, "not a's to delete");
    assert!(b.reconcile().await.unwrap().elsewhere, "a holds it now");
    // A replica that stops hands the lease on.
    a.stop().await;
    assert!(!b.reconcile().await.unwrap().elsewhere);
    drop(in_progress);
}

/// A replica revokes a grant another armed, and dies before tearing it down: the replica
/// whose timer sleeps until the grant's expiry an hour away is woken by its poll and tears it
/// down now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_left_by_a_dead_replica_wakes_the_timer_sleeping_on_the_grant() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wicket.db");
    let cluster = Arc::new(Memory::default());
    let a = replica(&path, "a", &cluster).await;
    let b = replica(&path, "b", &cluster).await;
    a.start().await.unwrap();
    let record = short_grant(&a, 3600).await;
    assert_eq!(a.armed_timers(), 1, "asleep until the expiry");
    b.store()
        .transition_due(
            Transition {
                id: &record.id,
                from: RequestState::Active,
                to: RequestState::Revoking,
                actor: &Actor::user(&identity("alice")),
                note: None,
                detail: None,
                expires_at: None,
            },
            Some(now()),
        )
        .await
        .unwrap();
    drop(b);
    eventually("a to tear it down", async || {
        a.store().get_request(&record.id).await.unwrap().state == RequestState::Revoked
    })
    .await;
    assert_eq!(on_cluster(&cluster, &record.id), 0);
    let events = events(&a, &record.id).await;
    assert_eq!(count(&events, "object_deleted", None), 2);
    assert_eq!(count(&events, "state_changed", Some("revoked")), 1);
    a.shutdown();
}
