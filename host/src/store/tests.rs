//! SQLite's own: the conformance suite on [`SqliteStore`], then what only this
//! implementation has (pragmas, indexes, migrations, files).

use jiff::Timestamp;
use rstest::rstest;
use sqlx::Row;

use super::conformance::{Fresh, activate, deny, module};
pub(crate) use super::conformance::{decided, denied, identity, request};
use super::*;

pub(crate) struct TestStore {
    pub store: SqliteStore,
    pub dir: tempfile::TempDir,
}

pub(crate) async fn test_store() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("data/wicket.db"))
        .await
        .unwrap();
    TestStore { store, dir }
}

async fn fresh() -> Fresh {
    let t = test_store().await;
    Fresh {
        store: Arc::new(t.store),
        guard: Box::new(t.dir),
    }
}

mod conformance {
    use super::fresh;

    crate::store_conformance_tests!(fresh());
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
    let synchronous: i64 = sqlx::query("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        synchronous, 2,
        "FULL: every commit is synced before it is answered"
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
async fn open_existing_takes_a_data_directory_or_a_file_and_never_creates_one() {
    let t = test_store().await;
    denied(&t.store, &request("r1"), "alice").await;
    let data_dir = t.dir.path().join("data");
    for path in [data_dir.clone(), data_dir.join("wicket.db")] {
        let store = SqliteStore::open_existing(&path).await.unwrap();
        assert_eq!(store.get_request("r1").await.unwrap().id, "r1");
    }
    let empty = tempfile::tempdir().unwrap();
    let error = SqliteStore::open_existing(empty.path()).await.unwrap_err();
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
    let store: Option<Arc<dyn Store>> = None;
    send_sync(&store);
    if let Some(store) = store {
        send(store.get_request("r1"));
        send(store.list_requests(&ListFilter::default()));
        send(crate::audit::verify(&*store, Vec::new()));
    }
}

/// Requests are looked up by state only while they can still change: that lookup goes through
/// the partial index of live requests, which a denied request never enters (one B-tree page
/// fewer per denial); a final state is still answered, by a scan.
/// The steps of an `EXPLAIN QUERY PLAN` query, as SQLite words them.
async fn query_plan<'q>(
    store: &SqliteStore,
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

    let store = SqliteStore::open(&path).await.unwrap();
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

/// One requester's list seeks `requests_by_requester`, everyone's walks `requests_by_created`
/// (both in `(created_at, id)` order), a cursor seeks its place in the same index, and none
/// sorts: a page costs the same however many requests there are and however deep it is.
#[rstest]
#[case::own(
    true,
    false,
    "SEARCH requests USING INDEX requests_by_requester (requester_issuer=? AND requester_subject=?)"
)]
#[case::own_after_a_cursor(
    true,
    true,
    "SEARCH requests USING INDEX requests_by_requester (requester_issuer=? AND requester_subject=? AND (created_at,id)<(?,?))"
)]
#[case::everyone(false, false, "SCAN requests USING INDEX requests_by_created")]
#[case::everyone_after_a_cursor(
    false,
    true,
    "SEARCH requests USING INDEX requests_by_created ((created_at,id)<(?,?))"
)]
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
        query = query.bind(1_800_000_000_000i64).bind("a1");
    }
    let plan = query_plan(&t.store, query.bind(51i64)).await;
    assert_eq!(plan, [read], "one index walk, no sort");
}
