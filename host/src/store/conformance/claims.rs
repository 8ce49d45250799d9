//! Claims on due timers and named leases: what lets replicas share one store and fire each
//! timer once. Times are fixed (the claimer says what `now` is), so nothing here waits.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::{
    allow, approved, assert_chain, audit_kinds, decided, identity, moving, request, workflow,
};
use crate::audit::Details;
use crate::domain::RequestState;
use crate::store::{Claim, Store};

const NOW: i64 = 1_900_000_000;

fn at(offset: i64) -> Timestamp {
    Timestamp::from_second(NOW + offset).expect("a valid time")
}

/// A claim by `replica` at `NOW + offset` seconds, for 10 s.
fn claim(replica: &str, offset: i64) -> Claim<'_> {
    Claim {
        replica,
        now: at(offset),
        until: at(offset) + SignedDuration::from_secs(10),
    }
}

/// Request `id`, active until `expires_at` with its timer then.
async fn active_until(store: &dyn Store, id: &str, expires_at: Timestamp) {
    approved(store, &request(id)).await;
    store
        .transition(moving(
            id,
            RequestState::Approved,
            RequestState::Provisioning,
        ))
        .await
        .expect("approved → provisioning");
    store
        .transition_due(
            crate::store::Transition {
                expires_at: Some(expires_at),
                ..moving(id, RequestState::Provisioning, RequestState::Active)
            },
            Some(expires_at),
        )
        .await
        .expect("provisioning → active");
}

fn ids(timers: &[crate::store::DueTimer]) -> Vec<&str> {
    timers.iter().map(|t| t.id.as_str()).collect()
}

/// Eight replicas claiming at once (two timers each at most): every due timer goes to exactly
/// one of them, none that is not due or not live; a second round finds nothing free, and a
/// replica claiming again gets back its own.
pub async fn racing_replicas_claim_each_due_timer_once(store: Arc<dyn Store>) {
    for n in 0..6 {
        active_until(&*store, &format!("due{n}"), at(-60 + n)).await;
    }
    active_until(&*store, "later", at(3600)).await;
    decided(
        &*store,
        &request("denied"),
        "alice",
        &super::deny(),
        RequestState::Denied,
    )
    .await
    .expect("a denied request");
    let replicas: Vec<String> = (0..8).map(|n| format!("replica-{n}")).collect();
    let mut racing = tokio::task::JoinSet::new();
    for replica in replicas.clone() {
        let store = store.clone();
        racing.spawn(async move {
            let claimed = store
                .claim_due(claim(&replica, 0), 2)
                .await
                .expect("claims");
            (replica, claimed)
        });
    }
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut by_replica = BTreeMap::new();
    while let Some(joined) = racing.join_next().await {
        let (replica, claimed) = joined.expect("a claimer");
        assert!(claimed.len() <= 2, "{claimed:?}");
        assert!(
            claimed.windows(2).all(|w| w[0].due_at <= w[1].due_at),
            "soonest first: {claimed:?}"
        );
        for timer in &claimed {
            assert_eq!(timer.state, RequestState::Active);
            owners
                .entry(timer.id.clone())
                .or_default()
                .push(replica.clone());
        }
        by_replica.insert(replica, claimed);
    }
    let expected: Vec<String> = (0..6).map(|n| format!("due{n}")).collect();
    assert_eq!(
        owners.keys().cloned().collect::<Vec<_>>(),
        expected,
        "every due timer, nothing else"
    );
    assert!(
        owners.values().all(|o| o.len() == 1),
        "each claimed once: {owners:?}"
    );
    for replica in &replicas {
        assert!(
            store
                .claim_due(claim("replica-late", 1), 100)
                .await
                .unwrap()
                .is_empty(),
            "all held"
        );
        let again = store.claim_due(claim(replica, 1), 100).await.unwrap();
        assert_eq!(
            ids(&again),
            ids(&by_replica[replica]),
            "`{replica}` gets its own back"
        );
    }
    // Claims write no audit event.
    assert_chain(&*store, 7 * 5 + 3).await;
}

/// A claim whose holder did not renew it ends at its `until`: then another replica takes the
/// timer over.
pub async fn an_expired_claim_is_taken_over(store: Arc<dyn Store>) {
    active_until(&*store, "r1", at(-1)).await;
    let first = store.claim_due(claim("a", 0), 10).await.unwrap();
    assert_eq!(ids(&first), ["r1"]);
    assert!(store.claim_due(claim("b", 9), 10).await.unwrap().is_empty());
    assert_eq!(store.claim_timer("r1", claim("b", 9)).await.unwrap(), None);
    let taken = store.claim_due(claim("b", 10), 10).await.unwrap();
    assert_eq!(ids(&taken), ["r1"], "a's claim ended at 10 s");
    assert_eq!(taken[0].due_at, at(-1));
    assert_eq!(store.claim_timer("r1", claim("a", 11)).await.unwrap(), None);
    assert_eq!(
        store
            .renew_claims(&["r1".to_owned()], claim("a", 11))
            .await
            .unwrap(),
        Vec::<String>::new(),
        "a no longer holds it"
    );
}

/// The holder renews its claim (others stay out), releases it (others may take it), and a
/// new timer written for the request ends it; a request without a timer cannot be claimed.
pub async fn a_claim_is_renewed_released_and_ended_by_a_new_timer(store: Arc<dyn Store>) {
    active_until(&*store, "r1", at(3600)).await;
    let mine = store.claim_timer("r1", claim("a", 0)).await.unwrap();
    let mine = mine.expect("a timer not yet due can be claimed by id");
    assert_eq!((mine.id.as_str(), mine.due_at), ("r1", at(3600)));
    assert_eq!(store.claim_timer("r1", claim("b", 5)).await.unwrap(), None);
    let held = store
        .renew_claims(&["r1".to_owned(), "r2".to_owned()], claim("a", 8))
        .await
        .unwrap();
    assert_eq!(held, ["r1"]);
    assert_eq!(
        store.claim_timer("r1", claim("b", 12)).await.unwrap(),
        None,
        "renewed until 18 s"
    );
    assert!(!store.release_claim("r1", "b").await.unwrap());
    assert!(store.release_claim("r1", "a").await.unwrap());
    assert!(
        store
            .claim_timer("r1", claim("b", 12))
            .await
            .unwrap()
            .is_some()
    );
    // A new timer (here: a failed teardown's next attempt) is free for anyone.
    let details = Details::StateChanged {
        from: "active".into(),
        to: "active".into(),
        note: Some("teardown attempt 1 failed".into()),
    };
    assert!(
        store
            .reschedule("r1", RequestState::Active, at(-5), &workflow(), &details)
            .await
            .unwrap()
    );
    assert_eq!(
        ids(&store.claim_due(claim("c", 13), 10).await.unwrap()),
        ["r1"]
    );
    // And so is the timer of a new state.
    store
        .transition_due(
            moving("r1", RequestState::Active, RequestState::Revoking),
            Some(at(0)),
        )
        .await
        .unwrap();
    let claimed = store.claim_due(claim("a", 14), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].state, RequestState::Revoking);
    // A final state has no timer to claim.
    store
        .transition_due(
            moving("r1", RequestState::Revoking, RequestState::Revoked),
            None,
        )
        .await
        .unwrap();
    assert_eq!(store.claim_timer("r1", claim("a", 15)).await.unwrap(), None);
    assert!(
        store
            .claim_due(claim("a", 15), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.due_at("r1").await.unwrap(), None);
    assert_eq!(
        audit_kinds(&*store, "r1").await.last().map(String::as_str),
        Some("state_changed")
    );
}

/// An approved request is stored with its deadline; the process working on it moves it ahead,
/// until it stops: then another replica claims it, and a late heartbeat no longer moves it.
pub async fn deadlines_of_work_in_progress_hold_until_it_is_abandoned(store: Arc<dyn Store>) {
    store
        .insert_decided(crate::store::Decided {
            request: &request("r1"),
            requester: &identity("alice"),
            decision: &allow().into(),
            modules: &[],
            to: RequestState::Approved,
            actor: &workflow(),
            also: &[],
            due_at: Some(at(4)),
        })
        .await
        .unwrap();
    assert_eq!(store.due_at("r1").await.unwrap(), Some(at(4)));
    assert!(store.claim_due(claim("b", 3), 10).await.unwrap().is_empty());
    let ids_ = ["r1".to_owned(), "not-yet-stored".to_owned()];
    assert_eq!(store.hold_deadlines(&ids_, claim("a", 3)).await.unwrap(), 1);
    assert_eq!(store.due_at("r1").await.unwrap(), Some(at(13)));
    store
        .transition_due(
            moving("r1", RequestState::Approved, RequestState::Provisioning),
            Some(at(14)),
        )
        .await
        .unwrap();
    assert_eq!(store.hold_deadlines(&ids_, claim("a", 6)).await.unwrap(), 1);
    assert_eq!(store.due_at("r1").await.unwrap(), Some(at(16)));
    // `a` stopped: the deadline passes, `b` claims the abandoned provisioning.
    let abandoned = store.claim_due(claim("b", 16), 10).await.unwrap();
    assert_eq!(ids(&abandoned), ["r1"]);
    assert_eq!(abandoned[0].state, RequestState::Provisioning);
    assert_eq!(
        store.hold_deadlines(&ids_, claim("a", 17)).await.unwrap(),
        0,
        "b is failing it"
    );
    assert_eq!(store.due_at("r1").await.unwrap(), Some(at(16)));
    // Only work in progress has a deadline to hold.
    active_until(&*store, "r2", at(3600)).await;
    assert_eq!(
        store
            .hold_deadlines(&["r2".to_owned()], claim("a", 18))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.due_at("r2").await.unwrap(), Some(at(3600)));
}

/// A lease has one holder at a time; its holder renews it; it passes on once it ended or was
/// released.
pub async fn a_lease_has_one_holder_at_a_time(store: Arc<dyn Store>) {
    assert!(
        store
            .acquire_lease("reconciler", claim("a", 0))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("reconciler", claim("b", 5))
            .await
            .unwrap()
    );
    assert!(store.acquire_lease("other", claim("b", 5)).await.unwrap());
    assert!(
        store
            .acquire_lease("reconciler", claim("a", 8))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("reconciler", claim("b", 12))
            .await
            .unwrap(),
        "renewed until 18 s"
    );
    assert!(
        store
            .acquire_lease("reconciler", claim("b", 18))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("reconciler", claim("a", 19))
            .await
            .unwrap()
    );
    assert!(!store.release_lease("reconciler", "a").await.unwrap());
    assert!(store.release_lease("reconciler", "b").await.unwrap());
    assert!(
        store
            .acquire_lease("reconciler", claim("a", 20))
            .await
            .unwrap()
    );
    // Racing for a free lease: one wins.
    let mut racing = tokio::task::JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        racing.spawn(async move {
            let replica = format!("r{n}");
            store
                .acquire_lease("race", claim(&replica, 0))
                .await
                .unwrap()
        });
    }
    let mut won = 0;
    while let Some(joined) = racing.join_next().await {
        won += usize::from(joined.unwrap());
    }
    assert_eq!(won, 1);
}
