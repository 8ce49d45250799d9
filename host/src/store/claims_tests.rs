//! Claims across processes: two `SqliteStore`s on one file (two replicas) racing for the same
//! due timers each get a share, and no timer goes to both.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::conformance::{activate, moving};
use super::tests::test_store;
use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_claim_each_due_timer_once() {
    let t = test_store().await;
    let a: Arc<dyn Store> = Arc::new(t.store.clone());
    let b: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&t.dir.path().join("data/wicket.db"))
            .await
            .unwrap(),
    );
    let past = Timestamp::from_second(1_700_000_000).unwrap();
    let mut due = BTreeSet::new();
    for n in 0..40 {
        let id = format!("r{n:02}");
        activate(&*a, &id, past).await;
        a.transition_due(
            moving(&id, RequestState::Active, RequestState::Revoking),
            Some(past),
        )
        .await
        .unwrap();
        due.insert(id);
    }
    let now = Timestamp::now();
    let claim = move |replica: &'static str| Claim {
        replica,
        now,
        until: now + SignedDuration::from_secs(60),
    };
    // Forty claimers, twenty on each store, one timer each at most.
    let mut racing = tokio::task::JoinSet::new();
    for n in 0..40 {
        let (store, name) = if n % 2 == 0 {
            (a.clone(), "a")
        } else {
            (b.clone(), "b")
        };
        racing.spawn(async move {
            let replica = format!("{name}{n}");
            let claim = Claim {
                replica: &replica,
                ..claim(name)
            };
            let claimed = store.claim_due(claim, 1).await.unwrap();
            (name, claimed.into_iter().map(|t| t.id).collect::<Vec<_>>())
        });
    }
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    while let Some(joined) = racing.join_next().await {
        let (name, claimed) = joined.unwrap();
        assert_eq!(claimed.len(), 1, "one free timer for each claimer");
        if name == "a" {
            &mut from_a
        } else {
            &mut from_b
        }
        .extend(claimed);
    }
    let (set_a, set_b): (BTreeSet<_>, BTreeSet<_>) = (
        from_a.iter().cloned().collect(),
        from_b.iter().cloned().collect(),
    );
    assert_eq!(set_a.len() + set_b.len(), 40, "none claimed twice");
    assert!(set_a.is_disjoint(&set_b), "{set_a:?} {set_b:?}");
    assert_eq!(&set_a | &set_b, due);
    assert!(b.claim_due(claim("late"), 10).await.unwrap().is_empty());
    // What `a` claimed, `b` cannot take until the claim ends.
    let first = from_a.first().or(from_b.first()).unwrap();
    let holder = if set_a.contains(first) { "a" } else { "b" };
    let other = if holder == "a" { &b } else { &a };
    assert_eq!(other.claim_timer(first, claim("x")).await.unwrap(), None);
    b.close().await;
}
