use jiff::Timestamp;
use rstest::rstest;
use sqlx::Row;

use super::*;
use crate::audit::Actor;
use crate::policy::types::{AccessRequest, Decision, Identity};

const REQUEST: &str = include_str!("fixtures/request.json");
const IDENTITY: &str = include_str!("fixtures/identity.json");
const ALLOW: &str = include_str!("fixtures/allow.json");

pub(crate) struct TestStore {
    pub store: Store,
    pub dir: tempfile::TempDir,
}

pub(crate) async fn test_store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data/wicket.db"))
        .await
        .unwrap();
    TestStore { store, dir }
}

pub(crate) fn request(id: &str) -> AccessRequest {
    let mut request: AccessRequest = serde_json::from_str(REQUEST).unwrap();
    request.id = id.to_owned();
    request
}

pub(crate) fn identity(subject: &str) -> Identity {
    let mut identity: Identity = serde_json::from_str(IDENTITY).unwrap();
    identity.subject = subject.to_owned();
    identity
}

fn allow() -> Decision {
    serde_json::from_str(ALLOW).unwrap()
}

fn deny() -> Decision {
    Decision::Deny {
        reason: "not in sre".into(),
    }
}

/// Stores `request` of `subject` as decided by `decision` (no module parts), in state `to`.
pub(crate) async fn decided(
    store: &Store,
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
        })
        .await
}

/// Stores `request` of `subject`, denied.
pub(crate) async fn denied(store: &Store, request: &AccessRequest, subject: &str) -> RequestRecord {
    decided(store, request, subject, &deny(), RequestState::Denied)
        .await
        .unwrap()
}

/// Stores `request` by `alice` as allowed, in state `approved`.
async fn approved(store: &Store, request: &AccessRequest) -> RequestRecord {
    decided(store, request, "alice", &allow(), RequestState::Approved)
        .await
        .unwrap()
}

fn workflow() -> Actor {
    Actor::service("workflow")
}

fn module(name: &str, decision: Option<Decision>) -> ModuleVerdict {
    ModuleVerdict {
        module: name.to_owned(),
        digest: format!("sha256-of-{name}"),
        error: decision.is_none().then(|| "deadline exceeded".to_owned()),
        skipped_after: None,
        decision,
        duration_us: 42,
    }
}

/// Takes a request through received → approved → provisioning → active.
async fn activate(store: &Store, id: &str, expires_at: Timestamp) -> RequestRecord {
    approved(store, &request(id)).await;
    for (from, to) in [
        (RequestState::Approved, RequestState::Provisioning),
        (RequestState::Provisioning, RequestState::Active),
    ] {
        store
            .transition(Transition {
                id,
                from,
                to,
                actor: &workflow(),
                note: None,
                detail: None,
                expires_at: (to == RequestState::Active).then_some(expires_at),
            })
            .await
            .unwrap();
    }
    store.get_request(id).await.unwrap()
}

async fn audit_kinds(store: &Store, id: &str) -> Vec<String> {
    store
        .audit_events_of(id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

#[tokio::test]
async fn open_creates_the_database_with_wal_and_foreign_keys() {
    let t = test_store().await;
    assert!(t.dir.path().join("data/wicket.db").is_file());
    let mut conn = t.store.pool().acquire().await.unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(fk, 1);
    let busy: i64 = sqlx::query("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(busy, 10_000);
}

#[tokio::test]
async fn foreign_keys_refuse_objects_of_unknown_requests() {
    let t = test_store().await;
    let object = ObjectRef {
        kind: "ServiceAccount".into(),
        namespace: Some("wicket-system".into()),
        name: "wicket-x".into(),
    };
    let error = t
        .store
        .record_object("no-such-request", &object, &workflow())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("FOREIGN KEY"), "{error}");
}

#[tokio::test]
async fn a_decided_request_is_stored_with_its_events_in_one_change() {
    let t = test_store().await;
    let stored = denied(&t.store, &request("r1"), "alice").await;
    assert_eq!(stored.state, RequestState::Denied);
    assert_eq!(stored.subject, "alice");
    assert_eq!(stored.issuer, "https://login.example.com");
    assert_eq!(stored.namespaces, ["payments"]);
    assert_eq!(stored.context["ticket"], "INC-123");
    assert_eq!(stored.verdict, Some(deny().into()));
    assert_eq!(stored.grant, None);
    assert_eq!(stored.created_at.to_string(), "2026-11-21T10:00:00Z");
    assert_eq!(stored, t.store.get_request("r1").await.unwrap());
    assert_eq!(
        audit_kinds(&t.store, "r1").await,
        ["request_received", "verdict", "state_changed"]
    );
}

#[tokio::test]
async fn duplicate_and_missing_ids_are_named_and_the_first_verdict_stays() {
    let t = test_store().await;
    denied(&t.store, &request("r1"), "alice").await;
    let duplicate = decided(
        &t.store,
        &request("r1"),
        "alice",
        &allow(),
        RequestState::Approved,
    )
    .await
    .unwrap_err();
    assert_eq!(duplicate.to_string(), "request `r1` already exists");
    let missing = t.store.get_request("r2").await.unwrap_err();
    assert_eq!(missing.to_string(), "request `r2` not found");
    assert_eq!(
        t.store.get_request("r1").await.unwrap().verdict,
        Some(deny().into())
    );
    assert_eq!(
        audit_kinds(&t.store, "r1").await.len(),
        3,
        "no event for the duplicate"
    );
}

#[tokio::test]
async fn verdict_stores_decision_grant_and_each_module_in_order() {
    let t = test_store().await;
    let modules = [module("group-access", Some(allow())), module("slow", None)];
    let stored = t
        .store
        .insert_decided(Decided {
            request: &request("r1"),
            requester: &identity("alice"),
            decision: &allow().into(),
            modules: &modules,
            to: RequestState::Approved,
            actor: &workflow(),
            also: &[],
        })
        .await
        .unwrap();
    assert_eq!(stored.state, RequestState::Approved);
    assert_eq!(stored.verdict, Some(allow().into()));
    let Decision::Allow { grant } = allow() else {
        unreachable!()
    };
    assert_eq!(stored.grant, Some(grant));
    assert_eq!(t.store.module_verdicts("r1").await.unwrap(), modules);
    assert_eq!(stored, t.store.get_request("r1").await.unwrap());
    assert_eq!(
        audit_kinds(&t.store, "r1").await,
        ["request_received", "verdict", "state_changed"]
    );
}

#[tokio::test]
async fn a_verdict_must_move_the_request_out_of_received() {
    let t = test_store().await;
    let error = decided(
        &t.store,
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
        t.store.get_request("r1").await,
        Err(Error::NotFound(_))
    ));
}

#[rstest]
#[case::active_to_approved(RequestState::Active, RequestState::Approved)]
#[case::expired_to_active(RequestState::Expired, RequestState::Active)]
#[case::denied_to_approved(RequestState::Denied, RequestState::Approved)]
#[case::received_to_active(RequestState::Received, RequestState::Active)]
#[tokio::test]
async fn moves_outside_the_state_machine_are_refused(
    #[case] from: RequestState,
    #[case] to: RequestState,
) {
    let t = test_store().await;
    denied(&t.store, &request("r1"), "alice").await;
    let error = t
        .store
        .transition(Transition {
            id: "r1",
            from,
            to,
            actor: &workflow(),
            note: None,
            detail: None,
            expires_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("a request cannot move from `{from}` to `{to}`")
    );
    assert_eq!(
        t.store.get_request("r1").await.unwrap().state,
        RequestState::Denied
    );
}

#[test]
fn every_state_name_round_trips() {
    for state in RequestState::ALL {
        assert_eq!(state.as_str().parse::<RequestState>().unwrap(), state);
        assert_eq!(
            serde_json::to_value(state).unwrap(),
            serde_json::json!(state.as_str())
        );
    }
    assert!("pending".parse::<RequestState>().is_err());
}

#[tokio::test]
async fn of_two_racing_teardowns_exactly_one_wins() {
    let t = test_store().await;
    let expires = Timestamp::from_second(1_900_000_000).unwrap();
    activate(&t.store, "r1", expires).await;
    let expiry = Actor::service("expiry");
    let admin = Actor::user(&identity("root"));
    let expire = t.store.transition(Transition {
        id: "r1",
        from: RequestState::Active,
        to: RequestState::Expired,
        actor: &expiry,
        note: None,
        detail: None,
        expires_at: None,
    });
    let revoke = t.store.transition(Transition {
        id: "r1",
        from: RequestState::Active,
        to: RequestState::Revoking,
        actor: &admin,
        note: Some("revoked by an admin"),
        detail: None,
        expires_at: None,
    });
    let (expired, revoked) = tokio::join!(expire, revoke);
    let outcomes = [expired.is_ok(), revoked.is_ok()];
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{outcomes:?}");
    let loser = expired.err().or(revoked.err()).unwrap();
    assert!(
        matches!(
            loser,
            Error::StateConflict {
                expected: RequestState::Active,
                ..
            }
        ),
        "{loser}"
    );
    let kinds = audit_kinds(&t.store, "r1").await;
    let teardowns = t
        .store
        .audit_events_of("r1", 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.details["from"] == "active")
        .count();
    assert_eq!(teardowns, 1, "exactly one teardown audited: {kinds:?}");
}

#[tokio::test]
async fn failure_keeps_its_cause_and_activation_its_expiry() {
    let t = test_store().await;
    let expires = Timestamp::from_second(1_900_000_000).unwrap();
    let active = activate(&t.store, "r1", expires).await;
    assert_eq!(active.state, RequestState::Active);
    assert_eq!(active.expires_at, Some(expires));

    approved(&t.store, &request("r2")).await;
    let failed = t
        .store
        .transition(Transition {
            id: "r2",
            from: RequestState::Approved,
            to: RequestState::Failed,
            actor: &workflow(),
            note: Some("creating RoleBinding `payments/wicket-r2` failed: 500"),
            detail: None,
            expires_at: None,
        })
        .await
        .unwrap();
    assert_eq!(failed.state, RequestState::Failed);
    assert_eq!(
        failed.error.as_deref(),
        Some("creating RoleBinding `payments/wicket-r2` failed: 500")
    );
    let events = t.store.audit_events_of("r2", 100).await.unwrap();
    assert_eq!(
        events.last().unwrap().details["note"],
        "creating RoleBinding `payments/wicket-r2` failed: 500"
    );
}

#[tokio::test]
async fn active_requests_come_back_soonest_expiry_first_after_a_restart() {
    let t = test_store().await;
    let path = t.dir.path().join("data/wicket.db");
    activate(
        &t.store,
        "late",
        Timestamp::from_second(1_900_000_900).unwrap(),
    )
    .await;
    activate(
        &t.store,
        "soon",
        Timestamp::from_second(1_900_000_100).unwrap(),
    )
    .await;
    denied(&t.store, &request("waiting"), "bob").await;
    t.store.close().await;

    let reopened = Store::open(&path).await.unwrap();
    let active = reopened
        .requests_in_state(RequestState::Active)
        .await
        .unwrap();
    let ids: Vec<&str> = active.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["soon", "late"]);
    assert_eq!(
        active[0].expires_at,
        Some(Timestamp::from_second(1_900_000_100).unwrap())
    );
}

#[tokio::test]
async fn lists_filter_and_page_without_gaps_or_repeats() {
    let t = test_store().await;
    for n in 0..7 {
        let mut r = request(&format!("a{n}"));
        r.requested_at = Timestamp::from_second(1_800_000_000 + n % 3).unwrap();
        denied(&t.store, &r, "alice").await;
    }
    for n in 0..3 {
        let mut r = request(&format!("b{n}"));
        r.cluster = "stage".into();
        denied(&t.store, &r, "bob").await;
    }

    // Pages of 3, newest first in the order the requests were stored (whatever time each was
    // received at), without gaps or repeats: one requester's, then everyone's.
    let own = ListFilter {
        requester: Some(("https://login.example.com".into(), "alice".into())),
        limit: 3,
        ..ListFilter::default()
    };
    let everyone = ListFilter {
        limit: 3,
        ..ListFilter::default()
    };
    for (filter, expected) in [
        (own, &["a6", "a5", "a4", "a3", "a2", "a1", "a0"][..]),
        (
            everyone,
            &["b2", "b1", "b0", "a6", "a5", "a4", "a3", "a2", "a1", "a0"],
        ),
    ] {
        let mut seen = Vec::new();
        let mut filter = filter;
        loop {
            let page = t.store.list_requests(&filter).await.unwrap();
            assert!(page.items.len() <= 3);
            seen.extend(page.items.iter().map(|r| r.id.clone()));
            match page.next {
                Some(next) => filter.cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected);
    }

    let stage = ListFilter {
        cluster: Some("stage".into()),
        ..ListFilter::default()
    };
    let page = t.store.list_requests(&stage).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert!(page.items.iter().all(|r| r.subject == "bob"));
    assert_eq!(page.next, None);

    let refused = ListFilter {
        state: Some(RequestState::Denied),
        ..ListFilter::default()
    };
    assert_eq!(
        t.store.list_requests(&refused).await.unwrap().items.len(),
        10
    );
    let active = ListFilter {
        state: Some(RequestState::Active),
        ..ListFilter::default()
    };
    assert!(
        t.store
            .list_requests(&active)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let bad = ListFilter {
        cursor: Some("yesterday".into()),
        ..ListFilter::default()
    };
    assert_eq!(
        t.store.list_requests(&bad).await.unwrap_err().to_string(),
        "paging cursor `yesterday` is invalid"
    );
}

#[tokio::test]
async fn objects_are_recorded_once_in_creation_order_and_marked_deleted() {
    let t = test_store().await;
    approved(&t.store, &request("r1")).await;
    let sa = ObjectRef {
        kind: "ServiceAccount".into(),
        namespace: Some("wicket-system".into()),
        name: "wicket-r1".into(),
    };
    let binding = ObjectRef {
        kind: "RoleBinding".into(),
        namespace: Some("payments".into()),
        name: "wicket-r1".into(),
    };
    let cluster_role = ObjectRef {
        kind: "ClusterRole".into(),
        namespace: None,
        name: "wicket-r1".into(),
    };
    for object in [&sa, &binding, &cluster_role] {
        assert!(
            t.store
                .record_object("r1", object, &workflow())
                .await
                .unwrap()
        );
    }
    assert!(
        !t.store
            .record_object("r1", &binding, &workflow())
            .await
            .unwrap(),
        "a retried step records nothing new"
    );
    let live: Vec<ObjectRef> = t
        .store
        .objects_of("r1", false)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.object)
        .collect();
    assert_eq!(live, [sa.clone(), binding.clone(), cluster_role.clone()]);

    let reconciler = Actor::service("reconciler");
    assert!(
        t.store
            .record_object_deleted("r1", &sa, &reconciler)
            .await
            .unwrap()
    );
    assert!(
        !t.store
            .record_object_deleted("r1", &sa, &reconciler)
            .await
            .unwrap()
    );
    let live = t.store.objects_of("r1", false).await.unwrap();
    assert_eq!(live.len(), 2);
    let all = t.store.objects_of("r1", true).await.unwrap();
    assert!(all[0].deleted_at.is_some());
    assert_eq!(
        audit_kinds(&t.store, "r1").await,
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
}

#[tokio::test]
async fn open_existing_takes_a_data_directory_or_a_file_and_never_creates_one() {
    let t = test_store().await;
    denied(&t.store, &request("r1"), "alice").await;
    let data_dir = t.dir.path().join("data");
    for path in [data_dir.clone(), data_dir.join("wicket.db")] {
        let store = Store::open_existing(&path).await.unwrap();
        assert_eq!(store.get_request("r1").await.unwrap().id, "r1");
    }
    let empty = tempfile::tempdir().unwrap();
    let error = Store::open_existing(empty.path()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "no Wicket database at `{}`",
            empty.path().join("wicket.db").display()
        )
    );
    assert!(!empty.path().join("wicket.db").exists());
}

/// The API edge and background tasks share one store across threads.
#[test]
fn store_and_its_futures_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let store: Option<Store> = None;
    send_sync(&store);
    if let Some(store) = store {
        send(store.get_request("r1"));
        send(store.list_requests(&ListFilter::default()));
        send(crate::audit::verify(&store, Vec::new()));
    }
}

/// Requests are looked up by state only while they can still change: that lookup goes through
/// the partial index of live requests, which a denied request never enters (one B-tree page
/// fewer per denial); a final state is still answered, by a scan.
/// The steps of an `EXPLAIN QUERY PLAN` query, as SQLite words them.
async fn query_plan<'q>(
    store: &Store,
    explain: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
) -> Vec<String> {
    explain
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect()
}

#[tokio::test]
async fn lookups_by_live_state_use_the_partial_index_and_final_states_still_answer() {
    let t = test_store().await;
    activate(
        &t.store,
        "live",
        Timestamp::from_second(1_900_000_000).unwrap(),
    )
    .await;
    denied(&t.store, &request("refused"), "bob").await;

    let explain = format!("EXPLAIN QUERY PLAN {}", super::requests::LIVE_IN_STATE);
    let plan = query_plan(
        &t.store,
        sqlx::query(sqlx::AssertSqlSafe(explain)).bind("active"),
    )
    .await;
    assert!(
        plan.iter()
            .any(|step| step.contains("USING INDEX requests_live_by_state_expiry")),
        "{plan:?}"
    );
    let indexed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM requests INDEXED BY requests_live_by_state_expiry
         WHERE state IN ('received', 'pending-approval', 'approved', 'provisioning', 'active',
                         'revoking', 'expiring')",
    )
    .fetch_one(t.store.pool())
    .await
    .unwrap();
    assert_eq!(indexed, 1);

    let ids = |records: Vec<RequestRecord>| -> Vec<String> {
        records.into_iter().map(|r| r.id).collect()
    };
    let active = t.store.requests_in_state(RequestState::Active).await;
    assert_eq!(ids(active.unwrap()), ["live"]);
    let refused = t.store.requests_in_state(RequestState::Denied).await;
    assert_eq!(ids(refused.unwrap()), ["refused"]);
}

/// Migration 0004 moves each request's module verdicts into its row: stored under 0003's
/// schema (one row per module, inserted out of order, a failed module with no decision), they
/// read back in chain order after the upgrade, and their table is gone.
#[tokio::test]
async fn module_verdicts_stored_before_they_moved_into_the_request_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wicket.db");
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    let mut before = sqlx::migrate!("./migrations");
    let up_to_0003: Vec<_> = before
        .migrations
        .iter()
        .filter(|m| m.version <= 3)
        .cloned()
        .collect();
    assert_eq!(up_to_0003.len(), 3);
    before.migrations = up_to_0003.into();
    before.run(&pool).await.unwrap();
    for id in ["with-modules", "without"] {
        sqlx::query(
            "INSERT INTO requests (id, requester_subject, requester_issuer, cluster, namespaces,
                access, duration_seconds, reason, context, state, verdict, created_at, updated_at)
             VALUES (?, 'alice', 'https://login.example.com', 'prod', '[\"payments\"]',
                '{\"access\":{\"role\":\"edit\"},\"cluster_rules\":[]}', 1800, 'INC-1', '{}',
                'denied', '{\"decision\":\"deny\",\"reason\":\"no\"}', 1, 1)",
        )
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    }
    let modules = [module("group-access", Some(deny())), module("slow", None)];
    for position in [1usize, 0] {
        let m = &modules[position];
        sqlx::query("INSERT INTO module_verdicts VALUES ('with-modules', ?, ?, ?, ?, ?, ?)")
            .bind(i64::try_from(position).unwrap())
            .bind(&m.module)
            .bind(&m.digest)
            .bind(m.decision.as_ref().map(|d| to_json(d).unwrap()))
            .bind(i64::try_from(m.duration_us).unwrap())
            .bind(&m.error)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;

    let store = Store::open(&path).await.unwrap();
    assert_eq!(
        store.module_verdicts("with-modules").await.unwrap(),
        modules
    );
    assert_eq!(store.module_verdicts("without").await.unwrap(), []);
    let error = store.module_verdicts("unknown").await.unwrap_err();
    assert!(matches!(error, Error::NotFound(id) if id == "unknown"));
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'module_verdicts'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(tables, 0);
}

/// One requester's list seeks `requests_by_requester`, everyone's walks the table itself
/// (both in stored order), a cursor seeks its place, and none sorts: a page costs the same
/// however many requests there are and however deep it is.
#[rstest]
#[case::own(
    true,
    false,
    "SEARCH requests USING INDEX requests_by_requester (requester_issuer=? AND requester_subject=?)"
)]
#[case::own_after_a_cursor(
    true,
    true,
    "SEARCH requests USING INDEX requests_by_requester (requester_issuer=? AND requester_subject=? AND rowid<?)"
)]
#[case::everyone(false, false, "SCAN requests")]
#[case::everyone_after_a_cursor(false, true, "SEARCH requests USING INTEGER PRIMARY KEY (rowid<?)")]
#[tokio::test]
async fn lists_read_an_index_in_order(#[case] own: bool, #[case] after: bool, #[case] read: &str) {
    let t = test_store().await;
    let filter = ListFilter {
        requester: own.then(|| ("https://login.example.com".to_owned(), "alice".to_owned())),
        ..ListFilter::default()
    };
    let explain = format!(
        "EXPLAIN QUERY PLAN {}",
        super::requests::list_sql(&filter, after)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(explain));
    if own {
        query = query.bind("https://login.example.com").bind("alice");
    }
    if after {
        query = query.bind("a1");
    }
    let plan = query_plan(&t.store, query.bind(51i64)).await;
    assert_eq!(plan[0], read, "{plan:?}");
    let cursor = [
        "SCALAR SUBQUERY 1",
        "SEARCH requests USING COVERING INDEX sqlite_autoindex_requests_1 (id=?)",
    ];
    let expected: &[&str] = if after { &cursor } else { &[] };
    assert_eq!(plan[1..], *expected, "{plan:?}");
}
