//! The store conformance suite: what every implementation of [`Store`] must do, checked
//! through the trait alone. [`crate::store_conformance_tests!`] makes one test per check from
//! a factory of fresh, empty stores; `store/tests.rs` runs it against [`super::SqliteStore`].
//!
//! Built for tests, and with the `conformance` feature for implementations outside this crate.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;

use super::{Decided, Error, ListFilter, RequestRecord, Result, Store, Transition};
use crate::audit::{self, Actor, AuthenticationFailures, Details};
use crate::domain::{
    AccessRequest, Decision, Identity, Kind, ModuleVerdict, ObjectRef, RequestState,
};
use crate::policy::set::Promotion;

mod claims;
pub use claims::*;
mod replicas;
pub use replicas::*;

const REQUEST: &str = include_str!("fixtures/request.json");
const IDENTITY: &str = include_str!("fixtures/identity.json");
const ALLOW: &str = include_str!("fixtures/allow.json");

/// A fresh, empty store, and whatever must live as long as it (its temporary directory).
pub struct Fresh {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Dropped after the check.
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

/// One test per check, each on a store from `$fresh` (an expression of type
/// `impl Future<Output = Fresh>`, evaluated once per test).
#[macro_export]
macro_rules! store_conformance_tests {
    ($fresh:expr) => {
        $crate::store_conformance_tests!(@each $fresh;
            a_decided_request_is_stored_with_its_events_in_one_change,
            duplicate_and_missing_ids_are_named_and_the_first_verdict_stays,
            verdicts_keep_decision_grant_and_each_module_in_order,
            a_verdict_must_move_the_request_out_of_received,
            moves_outside_the_state_machine_are_refused,
            of_two_racing_moves_exactly_one_wins,
            failure_keeps_its_cause_and_activation_its_expiry,
            live_requests_come_back_soonest_expiry_first,
            lists_page_newest_first_by_created_at_and_id,
            objects_are_recorded_once_in_order_and_marked_deleted,
            objects_of_unknown_requests_are_refused,
            promotions_are_saved_replaced_and_listed_oldest_first,
            the_installation_id_is_a_label_value,
            appended_events_chain_from_genesis,
            failed_writes_leave_no_trace_and_no_gap_in_the_chain,
            many_writers_at_once_are_all_answered_and_the_chain_holds,
            writes_after_close_are_refused,
            racing_replicas_claim_each_due_timer_once,
            an_expired_claim_is_taken_over,
            a_claim_is_renewed_released_and_ended_by_a_new_timer,
            deadlines_of_work_in_progress_hold_until_it_is_abandoned,
            a_lease_has_one_holder_at_a_time,
            replicas_heartbeat_and_are_listed_while_seen,
            reload_generations_count_up_from_one,
            racing_publishers_each_get_their_own_generation,
        );
    };
    (@each $fresh:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let fresh: $crate::store::conformance::Fresh = $fresh.await;
                $crate::store::conformance::$check(fresh.store.clone()).await;
                drop(fresh);
            }
        )*
    };
}

/// The request fixture, with this id.
pub fn request(id: &str) -> AccessRequest {
    let mut request: AccessRequest = serde_json::from_str(REQUEST).expect("request fixture");
    request.id = id.to_owned();
    request
}

/// The identity fixture, with this subject.
pub fn identity(subject: &str) -> Identity {
    let mut identity: Identity = serde_json::from_str(IDENTITY).expect("identity fixture");
    identity.subject = subject.to_owned();
    identity
}

/// An allowing decision (its grant: `edit` in `payments`).
pub fn allow() -> Decision {
    serde_json::from_str(ALLOW).expect("decision fixture")
}

/// A denying decision.
pub fn deny() -> Decision {
    Decision::Deny {
        reason: "not in sre".into(),
    }
}

pub(crate) fn workflow() -> Actor {
    Actor::service("workflow")
}

/// Stores `request` of `subject` as decided by `decision` (no module parts), in state `to`.
pub async fn decided(
    store: &dyn Store,
    request: &AccessRequest,
    subject: &str,
    decision: &Decision,
    to: RequestState,
) -> Result<RequestRecord> {
    store
        .insert_decided(Decided {
            request,
            requester: &identity(subject),
            decision: &decision.clone().into(),
            modules: &[],
            to,
            actor: &Actor::service("policy"),
            also: &[],
            due_at: None,
        })
        .await
}

/// Stores `request` of `subject`, denied.
pub async fn denied(store: &dyn Store, request: &AccessRequest, subject: &str) -> RequestRecord {
    decided(store, request, subject, &deny(), RequestState::Denied)
        .await
        .expect("a denied request is stored")
}

/// Stores `request` by `alice` as allowed, in state `approved`.
pub async fn approved(store: &dyn Store, request: &AccessRequest) -> RequestRecord {
    decided(store, request, "alice", &allow(), RequestState::Approved)
        .await
        .expect("an approved request is stored")
}

/// A move of `id` by the workflow, with nothing else said.
pub(crate) fn moving(id: &str, from: RequestState, to: RequestState) -> Transition<'_> {
    Transition {
        id,
        from,
        to,
        actor: &WORKFLOW,
        note: None,
        detail: None,
        expires_at: None,
    }
}

static WORKFLOW: std::sync::LazyLock<Actor> = std::sync::LazyLock::new(workflow);

/// Takes a request through received → approved → provisioning → active.
pub async fn activate(store: &dyn Store, id: &str, expires_at: Timestamp) -> RequestRecord {
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
        .transition(Transition {
            expires_at: Some(expires_at),
            ..moving(id, RequestState::Provisioning, RequestState::Active)
        })
        .await
        .expect("provisioning → active")
}

/// A module's part in a verdict: `decision`, or failed when `None`.
pub fn module(name: &str, decision: Option<Decision>) -> ModuleVerdict {
    ModuleVerdict {
        module: name.to_owned(),
        digest: format!("sha256-of-{name}"),
        error: decision.is_none().then(|| "deadline exceeded".to_owned()),
        skipped_after: None,
        decision,
        duration_us: 42,
    }
}

pub(crate) async fn audit_kinds(store: &dyn Store, id: &str) -> Vec<String> {
    store
        .audit_events_of(id, 100)
        .await
        .expect("events of a request")
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// The whole chain is intact, `events` long, numbered from 1 without gaps, each linked to the
/// one before, as both readers of the log see it.
pub(crate) async fn assert_chain(store: &dyn Store, events: usize) {
    let report = audit::verify(store, Vec::new())
        .await
        .expect("the chain verifies");
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, events as u64);
    let rows = store.stored_audit_rows(0, 100_000).await.expect("raw rows");
    let read = store.audit_events(0, 100_000).await.expect("events");
    assert_eq!(rows.len(), events);
    assert_eq!(read.len(), events);
    let mut prev = audit::chain::GENESIS_HASH.to_owned();
    for (n, (row, event)) in rows.iter().zip(&read).enumerate() {
        assert_eq!(row.seq, n as i64 + 1);
        assert_eq!(event.seq, row.seq);
        assert_eq!(
            row.prev_hash, prev,
            "event {} links to the one before",
            row.seq
        );
        assert_eq!(event.hash, row.hash);
        prev = row.hash.clone();
    }
}

fn auth_failure(message: &str) -> Details {
    Details::AuthenticationFailed(AuthenticationFailures::Single {
        code: "expired".into(),
        message: message.to_owned(),
    })
}

/// Stored with its verdict, state and three events, and read back the same.
pub async fn a_decided_request_is_stored_with_its_events_in_one_change(store: Arc<dyn Store>) {
    let stored = denied(&*store, &request("r1"), "alice").await;
    assert_eq!(stored.state, RequestState::Denied);
    assert_eq!(stored.subject, "alice");
    assert_eq!(stored.issuer, "https://login.example.com");
    assert_eq!(stored.namespaces, ["payments"]);
    assert_eq!(stored.context["ticket"], "INC-123");
    assert_eq!(stored.verdict, Some(deny().into()));
    assert_eq!(stored.grant, None);
    assert_eq!(stored.created_at.to_string(), "2026-11-21T10:00:00Z");
    assert_eq!(stored, store.get_request("r1").await.unwrap());
    assert_eq!(
        audit_kinds(&*store, "r1").await,
        ["request_received", "verdict", "state_changed"]
    );
    assert_chain(&*store, 3).await;
}

/// A second request with a taken id is refused (a unique violation, named), stores nothing
/// and appends nothing; a missing id is named.
pub async fn duplicate_and_missing_ids_are_named_and_the_first_verdict_stays(
    store: Arc<dyn Store>,
) {
    denied(&*store, &request("r1"), "alice").await;
    let duplicate = decided(
        &*store,
        &request("r1"),
        "alice",
        &allow(),
        RequestState::Approved,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&duplicate, Error::Duplicate(id) if id == "r1"),
        "{duplicate}"
    );
    assert_eq!(duplicate.to_string(), "request `r1` already exists");
    let missing = store.get_request("r2").await.unwrap_err();
    assert_eq!(missing.to_string(), "request `r2` not found");
    assert!(matches!(
        store.module_verdicts("r2").await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        store.get_request("r1").await.unwrap().verdict,
        Some(deny().into())
    );
    assert_chain(&*store, 3).await;
}

/// The decision, its grant and each module's part come back as stored, in chain order.
pub async fn verdicts_keep_decision_grant_and_each_module_in_order(store: Arc<dyn Store>) {
    let modules = [module("group-access", Some(allow())), module("slow", None)];
    let stored = store
        .insert_decided(Decided {
            request: &request("r1"),
            requester: &identity("alice"),
            decision: &allow().into(),
            modules: &modules,
            to: RequestState::Approved,
            actor: &workflow(),
            also: &[auth_failure("a shadow difference")],
            due_at: None,
        })
        .await
        .unwrap();
    assert_eq!(stored.state, RequestState::Approved);
    assert_eq!(stored.verdict, Some(allow().into()));
    let Decision::Allow { grant } = allow() else {
        unreachable!("the fixture allows")
    };
    assert_eq!(stored.grant, Some(grant));
    assert_eq!(store.module_verdicts("r1").await.unwrap(), modules);
    assert_eq!(stored, store.get_request("r1").await.unwrap());
    assert_eq!(
        audit_kinds(&*store, "r1").await,
        [
            "request_received",
            "verdict",
            "state_changed",
            "authentication_failed"
        ]
    );
}

/// A verdict that would leave the request `received` (or skip ahead) is refused.
pub async fn a_verdict_must_move_the_request_out_of_received(store: Arc<dyn Store>) {
    let error = decided(
        &*store,
        &request("r1"),
        "alice",
        &allow(),
        RequestState::Active,
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "a request cannot move from `received` to `active`"
    );
    assert!(matches!(
        store.get_request("r1").await,
        Err(Error::NotFound(_))
    ));
    assert_chain(&*store, 0).await;
}

/// Moves the state machine does not have are refused and change nothing.
pub async fn moves_outside_the_state_machine_are_refused(store: Arc<dyn Store>) {
    use RequestState::*;
    denied(&*store, &request("r1"), "alice").await;
    for (from, to) in [
        (Active, Approved),
        (Expired, Active),
        (Denied, Approved),
        (Received, Active),
    ] {
        let error = store.transition(moving("r1", from, to)).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("a request cannot move from `{from}` to `{to}`")
        );
    }
    assert_eq!(store.get_request("r1").await.unwrap().state, Denied);
    assert_chain(&*store, 3).await;
}

/// Compare-and-set: of two moves from the same state, exactly one wins and is audited; the
/// other gets a conflict naming the state the request is in. A move of an unknown request
/// is `NotFound`.
pub async fn of_two_racing_moves_exactly_one_wins(store: Arc<dyn Store>) {
    let expires = Timestamp::from_second(1_900_000_000).unwrap();
    activate(&*store, "r1", expires).await;
    let expiry = Actor::service("expiry");
    let admin = Actor::user(&identity("root"));
    let expire = store.transition(Transition {
        actor: &expiry,
        ..moving("r1", RequestState::Active, RequestState::Expired)
    });
    let revoke = store.transition(Transition {
        actor: &admin,
        note: Some("revoked by an admin"),
        ..moving("r1", RequestState::Active, RequestState::Revoking)
    });
    let (expired, revoked) = tokio::join!(expire, revoke);
    let won = [expired.is_ok(), revoked.is_ok()];
    assert_eq!(won.iter().filter(|ok| **ok).count(), 1, "{won:?}");
    let winner = if won[0] {
        RequestState::Expired
    } else {
        RequestState::Revoking
    };
    let loser = expired.err().or(revoked.err()).unwrap();
    assert!(
        matches!(
            &loser,
            Error::StateConflict { id, expected: RequestState::Active, actual }
                if id == "r1" && *actual == winner
        ),
        "{loser}"
    );
    let teardowns = store
        .audit_events_of("r1", 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.details["from"] == "active")
        .count();
    assert_eq!(teardowns, 1, "exactly one teardown audited");
    let unknown = store
        .transition(moving(
            "r2",
            RequestState::Approved,
            RequestState::Provisioning,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, Error::NotFound(id) if id == "r2"),
        "{unknown}"
    );
    // Three events to decide, two moves to activate, one teardown.
    assert_chain(&*store, 6).await;
}

/// A move to `failed` keeps its note as the request's error and in its event; a move to
/// `active` keeps its expiry.
pub async fn failure_keeps_its_cause_and_activation_its_expiry(store: Arc<dyn Store>) {
    let expires = Timestamp::from_second(1_900_000_000).unwrap();
    let active = activate(&*store, "r1", expires).await;
    assert_eq!(active.state, RequestState::Active);
    assert_eq!(active.expires_at, Some(expires));
    assert_eq!(store.get_request("r1").await.unwrap(), active);

    approved(&*store, &request("r2")).await;
    let cause = "creating RoleBinding `payments/wicket-r2` failed: 500";
    let failed = store
        .transition(Transition {
            note: Some(cause),
            detail: Some("the cluster said: 500"),
            ..moving("r2", RequestState::Approved, RequestState::Failed)
        })
        .await
        .unwrap();
    assert_eq!(failed.state, RequestState::Failed);
    assert_eq!(failed.error.as_deref(), Some(cause));
    let events = store.audit_events_of("r2", 100).await.unwrap();
    assert_eq!(
        events.last().unwrap().details["note"],
        "the cluster said: 500"
    );
}

/// Requests in a live state come back soonest expiry first; final states answer too.
pub async fn live_requests_come_back_soonest_expiry_first(store: Arc<dyn Store>) {
    let late = Timestamp::from_second(1_900_000_900).unwrap();
    let soon = Timestamp::from_second(1_900_000_100).unwrap();
    activate(&*store, "late", late).await;
    activate(&*store, "soon", soon).await;
    denied(&*store, &request("refused"), "bob").await;
    approved(&*store, &request("waiting")).await;
    let ids = |records: Vec<RequestRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.id).collect()
    };
    let active = store.requests_in_state(RequestState::Active).await.unwrap();
    assert_eq!(active[0].expires_at, Some(soon));
    assert_eq!(ids(active), ["soon", "late"]);
    let refused = store.requests_in_state(RequestState::Denied).await;
    assert_eq!(ids(refused.unwrap()), ["refused"]);
    let waiting = store.requests_in_state(RequestState::Approved).await;
    assert_eq!(ids(waiting.unwrap()), ["waiting"]);
    let none = store.requests_in_state(RequestState::Provisioning).await;
    assert!(none.unwrap().is_empty());
}

/// Lists filter, and page newest first by `(created_at, id)` (ties on the time broken by
/// id) without gaps or repeats, whatever order the requests were stored in; a cursor that
/// is not one the store handed out is refused.
pub async fn lists_page_newest_first_by_created_at_and_id(store: Arc<dyn Store>) {
    for n in 0..7 {
        let mut r = request(&format!("a{n}"));
        r.requested_at = Timestamp::from_second(1_800_000_000 + n % 3).unwrap();
        denied(&*store, &r, "alice").await;
    }
    for n in 0..3 {
        let mut r = request(&format!("b{n}"));
        r.cluster = "stage".into();
        denied(&*store, &r, "bob").await;
    }
    let own = ListFilter {
        requester: Some(("https://login.example.com".into(), "alice".into())),
        limit: 3,
        ..ListFilter::default()
    };
    let everyone = ListFilter {
        limit: 3,
        ..ListFilter::default()
    };
    let alice = ["a5", "a2", "a4", "a1", "a6", "a3", "a0"];
    let all: Vec<&str> = alice.iter().copied().chain(["b2", "b1", "b0"]).collect();
    for (mut filter, expected) in [(own, &alice[..]), (everyone, &all[..])] {
        let mut seen = Vec::new();
        loop {
            let page = store.list_requests(&filter).await.unwrap();
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().map(|r| r.id.clone()));
            match page.next {
                Some(next) => filter.cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected);
    }

    // A request stored later but received earlier lands in its place, not on top.
    let mut late = request("late");
    late.requested_at = Timestamp::from_second(1_800_000_001).unwrap();
    denied(&*store, &late, "alice").await;
    let first = store
        .list_requests(&ListFilter {
            limit: 4,
            ..ListFilter::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = first.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["a5", "a2", "late", "a4"]);

    let stage = ListFilter {
        cluster: Some("stage".into()),
        ..ListFilter::default()
    };
    let page = store.list_requests(&stage).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(page.items.iter().all(|r| r.subject == "bob"));
    assert_eq!(page.next, None);
    let refused = ListFilter {
        state: Some(RequestState::Denied),
        limit: 100,
        ..ListFilter::default()
    };
    assert_eq!(store.list_requests(&refused).await.unwrap().items.len(), 11);
    let active = ListFilter {
        state: Some(RequestState::Active),
        ..ListFilter::default()
    };
    assert!(store.list_requests(&active).await.unwrap().items.is_empty());
    for bad in ["yesterday", "12", ".a1", "x.a1", "12."] {
        let filter = ListFilter {
            cursor: Some(bad.into()),
            ..ListFilter::default()
        };
        let error = store.list_requests(&filter).await.unwrap_err();
        assert!(matches!(&error, Error::BadCursor(c) if c == bad), "{error}");
    }
}

/// An object is recorded once (a retried step records nothing new), comes back in the order
/// recorded, and is marked deleted; each change has its event.
pub async fn objects_are_recorded_once_in_order_and_marked_deleted(store: Arc<dyn Store>) {
    approved(&*store, &request("r1")).await;
    let object = |kind: &str, namespace: Option<&str>| ObjectRef {
        kind: kind.parse().expect("a kind Wicket creates"),
        namespace: namespace.map(str::to_owned),
        name: "wicket-r1".into(),
    };
    let sa = object("ServiceAccount", Some("wicket-system"));
    let binding = object("RoleBinding", Some("payments"));
    let cluster_role = object("ClusterRole", None);
    for object in [&sa, &binding, &cluster_role] {
        assert!(
            store
                .record_object("r1", object, &workflow())
                .await
                .unwrap()
        );
    }
    assert!(
        !store
            .record_object("r1", &binding, &workflow())
            .await
            .unwrap(),
        "a retried step records nothing new"
    );
    let live: Vec<ObjectRef> = store
        .objects_of("r1", false)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.object)
        .collect();
    assert_eq!(live, [sa.clone(), binding.clone(), cluster_role.clone()]);

    let reconciler = Actor::service("reconciler");
    assert!(
        store
            .record_object_deleted("r1", &sa, &reconciler)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_object_deleted("r1", &sa, &reconciler)
            .await
            .unwrap()
    );
    let live = store.objects_of("r1", false).await.unwrap();
    assert_eq!(live.len(), 2);
    let all = store.objects_of("r1", true).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0].object, sa);
    assert!(all[0].deleted_at.is_some());
    assert!(all[1].deleted_at.is_none());
    assert_eq!(
        audit_kinds(&*store, "r1").await,
        [
            "request_received",
            "verdict",
            "state_changed",
            "object_created",
            "object_created",
            "object_created",
            "object_deleted",
            "object_deleted"
        ]
    );
    assert_chain(&*store, 8).await;
}

/// An object of a request that does not exist is refused, and leaves no event.
pub async fn objects_of_unknown_requests_are_refused(store: Arc<dyn Store>) {
    let object = ObjectRef {
        kind: Kind::ServiceAccount,
        namespace: Some("wicket-system".into()),
        name: "wicket-x".into(),
    };
    let recorded = store
        .record_object("no-such-request", &object, &workflow())
        .await;
    assert!(recorded.is_err(), "{recorded:?}");
    assert!(
        store
            .objects_of("no-such-request", true)
            .await
            .unwrap()
            .is_empty()
    );
    assert_chain(&*store, 0).await;
}

/// A promotion is saved with its event, a later one of the same entry replaces it, and
/// they are listed oldest first.
pub async fn promotions_are_saved_replaced_and_listed_oldest_first(store: Arc<dyn Store>) {
    assert!(store.promotions().await.unwrap().is_empty());
    let promotion = |entry: &str, candidate: &str| Promotion {
        cluster: "prod".into(),
        entry: entry.into(),
        candidate: candidate.into(),
    };
    let by = Actor::user(&identity("root"));
    store
        .save_promotion(&promotion("groups", "/policies/groups-v2.wasm"), &by)
        .await
        .unwrap();
    // Promotions are timed to the millisecond: let the next one be later.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .save_promotion(&promotion("window", "/policies/window-v2.wasm"), &by)
        .await
        .unwrap();
    assert_eq!(
        store.promotions().await.unwrap(),
        [
            promotion("groups", "/policies/groups-v2.wasm"),
            promotion("window", "/policies/window-v2.wasm")
        ]
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .save_promotion(&promotion("groups", "/policies/groups-v3.wasm"), &by)
        .await
        .unwrap();
    assert_eq!(
        store.promotions().await.unwrap(),
        [
            promotion("window", "/policies/window-v2.wasm"),
            promotion("groups", "/policies/groups-v3.wasm")
        ]
    );
    let kinds: Vec<String> = store
        .audit_events(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["policy_promoted"; 3]);
    assert_chain(&*store, 3).await;
}

/// The installation id is 32 lowercase hex digits (a Kubernetes label value), and stays.
pub async fn the_installation_id_is_a_label_value(store: Arc<dyn Store>) {
    let id = store.installation().to_owned();
    assert_eq!(id.len(), 32, "{id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id}"
    );
    denied(&*store, &request("r1"), "alice").await;
    assert_eq!(store.installation(), id);
}

/// Appended events are numbered from 1, each linked to the one before from the genesis hash,
/// and read back the same by every reader: all, after a `seq`, of one request, raw.
pub async fn appended_events_chain_from_genesis(store: Arc<dyn Store>) {
    let first = store
        .append_audit(None, &Actor::Anonymous, &auth_failure("first"))
        .await
        .unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, audit::chain::GENESIS_HASH);
    assert_eq!(first.request_id, None);
    let second = store
        .append_audit(Some("r9"), &workflow(), &auth_failure("second"))
        .await
        .unwrap();
    assert_eq!(second.seq, 2);
    assert_eq!(second.prev_hash, first.hash);
    assert_eq!(second.request_id.as_deref(), Some("r9"));
    assert_eq!(
        store.audit_events(0, 10).await.unwrap(),
        [first.clone(), second.clone()]
    );
    assert_eq!(
        store.audit_events(1, 10).await.unwrap(),
        std::slice::from_ref(&second)
    );
    assert_eq!(
        store.audit_events(0, 1).await.unwrap(),
        std::slice::from_ref(&first)
    );
    assert_eq!(
        store.audit_events_of("r9", 10).await.unwrap(),
        std::slice::from_ref(&second)
    );
    let raw = store.stored_audit_rows(1, 10).await.unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].hash, second.hash);
    assert_eq!(raw[0].kind, "authentication_failed");
    assert_eq!(raw[0].time, second.time.as_millisecond());
    assert_chain(&*store, 2).await;
}

/// Writes that fail (a taken id, a lost compare-and-set, an unknown request), alone or among
/// others at once, leave neither their changes nor their events, and the chain goes on from
/// the last kept event without a gap.
pub async fn failed_writes_leave_no_trace_and_no_gap_in_the_chain(store: Arc<dyn Store>) {
    denied(&*store, &request("taken"), "alice").await;
    approved(&*store, &request("moved")).await;
    store
        .transition(moving(
            "moved",
            RequestState::Approved,
            RequestState::Provisioning,
        ))
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for round in 0..8 {
        let s = store.clone();
        tasks.spawn(async move {
            let duplicate = denied_result(&*s, "taken").await;
            assert!(
                matches!(duplicate, Err(Error::Duplicate(_))),
                "{duplicate:?}"
            );
            1
        });
        let s = store.clone();
        tasks.spawn(async move {
            let stale = s
                .transition(moving(
                    "moved",
                    RequestState::Approved,
                    RequestState::Provisioning,
                ))
                .await;
            assert!(
                matches!(
                    stale,
                    Err(Error::StateConflict {
                        actual: RequestState::Provisioning,
                        ..
                    })
                ),
                "{stale:?}"
            );
            1
        });
        let s = store.clone();
        tasks.spawn(async move {
            let object = ObjectRef {
                kind: Kind::ServiceAccount,
                namespace: None,
                name: format!("orphan-{round}"),
            };
            assert!(
                s.record_object("nobody", &object, &workflow())
                    .await
                    .is_err()
            );
            1
        });
        let s = store.clone();
        tasks.spawn(async move {
            denied(&*s, &request(&format!("kept-{round}")), "bob").await;
            3
        });
    }
    let mut kept_events = 0;
    while let Some(done) = tasks.join_next().await {
        let events = done.expect("a writer task");
        if events == 3 {
            kept_events += 3;
        }
    }
    assert_eq!(kept_events, 24);
    for round in 0..8 {
        assert_eq!(
            audit_kinds(&*store, &format!("kept-{round}")).await,
            ["request_received", "verdict", "state_changed"]
        );
    }
    assert_eq!(audit_kinds(&*store, "taken").await.len(), 3);
    assert!(store.objects_of("nobody", true).await.unwrap().is_empty());
    // `taken` 3, `moved` 3 + 1, the kept ones 24.
    assert_chain(&*store, 31).await;
    let after = store
        .append_audit(None, &Actor::Anonymous, &auth_failure("after"))
        .await
        .unwrap();
    assert_eq!(after.seq, 32);
    assert_chain(&*store, 32).await;
}

async fn denied_result(store: &dyn Store, id: &str) -> Result<RequestRecord> {
    decided(store, &request(id), "carol", &deny(), RequestState::Denied).await
}

/// Many writers at once: every one is answered, each change stored once with its events in
/// its own order, and the chain is whole.
pub async fn many_writers_at_once_are_all_answered_and_the_chain_holds(store: Arc<dyn Store>) {
    let requests = 200;
    let before = store.write_stats();
    let mut tasks = Vec::new();
    for n in 0..requests {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("r{n:03}");
            if n % 2 == 0 {
                denied(&*store, &request(&id), &format!("user{n}")).await;
                return 3;
            }
            approved(&*store, &request(&id)).await;
            store
                .transition(moving(
                    &id,
                    RequestState::Approved,
                    RequestState::Provisioning,
                ))
                .await
                .expect("approved → provisioning");
            4
        }));
    }
    let mut events = 0;
    for task in tasks {
        events += task.await.expect("a writer task");
    }
    let stats = store.write_stats();
    assert_eq!(stats.writes - before.writes, 300, "one write per change");
    assert!(stats.batches - before.batches <= 300);
    let mut states = BTreeMap::new();
    let mut filter = ListFilter {
        limit: 500,
        ..ListFilter::default()
    };
    loop {
        let page = store.list_requests(&filter).await.unwrap();
        states.extend(page.items.into_iter().map(|r| (r.id, r.state)));
        match page.next {
            Some(next) => filter.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(states.len(), requests);
    for n in 0..requests {
        let expected = if n % 2 == 0 {
            RequestState::Denied
        } else {
            RequestState::Provisioning
        };
        assert_eq!(states[&format!("r{n:03}")], expected);
    }
    let all = store.audit_events(0, 10_000).await.unwrap();
    let ids: HashSet<Option<&str>> = all.iter().map(|e| e.request_id.as_deref()).collect();
    assert_eq!(ids.len(), requests);
    for n in 0..requests {
        let id = format!("r{n:03}");
        let kinds: Vec<&str> = all
            .iter()
            .filter(|e| e.request_id.as_deref() == Some(id.as_str()))
            .map(|e| e.kind.as_str())
            .collect();
        let mut expected = vec!["request_received", "verdict", "state_changed"];
        if n % 2 == 1 {
            expected.push("state_changed");
        }
        assert_eq!(kinds, expected, "the events of `{id}`, in order");
    }
    assert_chain(&*store, events).await;
}

/// After `close`, a write is refused with `Closed`; what was answered before stays.
pub async fn writes_after_close_are_refused(store: Arc<dyn Store>) {
    denied(&*store, &request("r1"), "alice").await;
    store.close().await;
    let error = store
        .append_audit(
            None,
            &Actor::user(&identity("alice")),
            &auth_failure("late"),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Closed), "{error}");
}
