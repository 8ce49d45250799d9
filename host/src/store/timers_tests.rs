//! Due timers: written with the state they guard, listed for live requests only, moved only
//! while the request is still in the state the caller saw; and migration 0008 keeps every
//! request, its place in lists and its objects while it rebuilds the table.

use std::borrow::Cow;

use jiff::Timestamp;
use sqlx::sqlite::SqliteConnectOptions;

use super::tests::{decided, request, test_store};
use super::*;
use crate::audit::{Actor, Details};
use crate::policy::types::Decision;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn workflow() -> Actor {
    Actor::service("workflow")
}

async fn allowed(store: &Store, id: &str) {
    let allow: Decision = serde_json::from_str(include_str!("fixtures/allow.json")).unwrap();
    decided(store, &request(id), "alice", &allow, RequestState::Approved)
        .await
        .unwrap();
}

async fn move_to(
    store: &Store,
    id: &str,
    from: RequestState,
    to: RequestState,
    due: Option<Timestamp>,
) -> Result<RequestRecord> {
    store
        .transition_due(
            Transition {
                id,
                from,
                to,
                actor: &workflow(),
                note: None,
                detail: None,
                expires_at: (to == RequestState::Active).then(|| at(1_900_000_000)),
            },
            due,
        )
        .await
}

#[tokio::test]
async fn due_times_are_written_with_their_state_and_listed_for_live_requests_only() {
    let t = test_store().await;
    for id in ["r1", "r2", "r3"] {
        allowed(&t.store, id).await;
        move_to(
            &t.store,
            id,
            RequestState::Approved,
            RequestState::Provisioning,
            Some(at(1_800_000_100)),
        )
        .await
        .unwrap();
    }
    move_to(
        &t.store,
        "r2",
        RequestState::Provisioning,
        RequestState::Active,
        Some(at(1_900_000_000)),
    )
    .await
    .unwrap();
    let failed = move_to(
        &t.store,
        "r3",
        RequestState::Provisioning,
        RequestState::Failed,
        None,
    )
    .await
    .unwrap();
    assert_eq!(failed.state, RequestState::Failed);
    let due = t.store.due_timers().await.unwrap();
    let listed: Vec<(&str, RequestState, Timestamp)> = due
        .iter()
        .map(|d| (d.id.as_str(), d.state, d.due_at))
        .collect();
    assert_eq!(
        listed,
        [
            ("r1", RequestState::Provisioning, at(1_800_000_100)),
            ("r2", RequestState::Active, at(1_900_000_000)),
        ]
    );
    assert_eq!(t.store.due_at("r3").await.unwrap(), None);
    assert!(matches!(
        t.store.due_at("nope").await,
        Err(Error::NotFound(_))
    ));
    // A compare-and-set that loses writes neither the state nor the due time.
    let lost = move_to(
        &t.store,
        "r1",
        RequestState::Active,
        RequestState::Revoking,
        Some(at(1)),
    )
    .await;
    assert!(matches!(lost, Err(Error::StateConflict { .. })), "{lost:?}");
    assert_eq!(t.store.due_at("r1").await.unwrap(), Some(at(1_800_000_100)));
}

#[tokio::test]
async fn a_reschedule_moves_the_due_time_with_its_event_only_in_the_state_seen() {
    let t = test_store().await;
    allowed(&t.store, "r1").await;
    move_to(
        &t.store,
        "r1",
        RequestState::Approved,
        RequestState::Provisioning,
        Some(at(1_800_000_000)),
    )
    .await
    .unwrap();
    let note = |text: &str| Details::StateChanged {
        from: "provisioning".into(),
        to: "provisioning".into(),
        note: Some(text.into()),
    };
    let teardown = Actor::service("teardown");
    let events =
        |store: Store| async move { store.audit_events_of("r1", 100).await.unwrap().len() };
    let before = events(t.store.clone()).await;
    assert!(
        t.store
            .reschedule(
                "r1",
                RequestState::Provisioning,
                at(1_800_000_500),
                &teardown,
                &note("retry")
            )
            .await
            .unwrap()
    );
    assert_eq!(t.store.due_at("r1").await.unwrap(), Some(at(1_800_000_500)));
    assert_eq!(events(t.store.clone()).await, before + 1);
    assert!(
        !t.store
            .reschedule(
                "r1",
                RequestState::Revoking,
                at(1),
                &teardown,
                &note("stale")
            )
            .await
            .unwrap(),
        "the request is not `revoking`"
    );
    assert_eq!(t.store.due_at("r1").await.unwrap(), Some(at(1_800_000_500)));
    assert_eq!(events(t.store.clone()).await, before + 1, "no event either");
}

#[tokio::test]
async fn migration_0008_keeps_requests_their_order_and_objects_and_arms_active_grants() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wicket.db");
    {
        let pool = sqlx::SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .foreign_keys(true),
        )
        .await
        .unwrap();
        let mut before = sqlx::migrate!("./migrations");
        before.migrations = Cow::Owned(
            before
                .migrations
                .iter()
                .filter(|m| m.version <= 7)
                .cloned()
                .collect(),
        );
        before.run(&pool).await.unwrap();
        // Stored in an order other than their ids' and times', as lists must keep it.
        for (id, state, expires_at) in [
            ("b-active", "active", Some(1_900_000_000_000_i64)),
            ("a-denied", "denied", None),
        ] {
            sqlx::query(
                "INSERT INTO requests (id, requester_subject, requester_issuer, cluster,
                    namespaces, access, duration_seconds, reason, context, state, expires_at,
                    created_at, updated_at)
                 VALUES (?, 'alice', 'https://idp.example.com', 'dev', '[\"payments\"]',
                    '{\"access\":{\"role\":\"edit\"},\"cluster_rules\":[]}', 600, 'r', '{}', ?,
                    ?, 1000, 1000)",
            )
            .bind(id)
            .bind(state)
            .bind(expires_at)
            .execute(&pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO provisioned_objects (request_id, kind, namespace, name, created_at)
             VALUES ('b-active', 'ServiceAccount', 'wicket-system', 'wicket-b', 1000)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let store = Store::open(&path).await.unwrap();
    let due = store.due_timers().await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].id.as_str(), due[0].due_at),
        (
            "b-active",
            Timestamp::from_millisecond(1_900_000_000_000).unwrap()
        )
    );
    let page = store.list_requests(&ListFilter::default()).await.unwrap();
    let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["a-denied", "b-active"],
        "newest stored first, as before"
    );
    assert_eq!(store.objects_of("b-active", true).await.unwrap().len(), 1);
    let violations: Vec<sqlx::sqlite::SqliteRow> = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(violations.is_empty());
    let target: String =
        sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list('provisioned_objects')")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(target, "requests");
    store.close().await;
}
