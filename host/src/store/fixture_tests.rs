//! A database written by an earlier Wicket (main at ad1742e: rusqlite writer, migrations up to
//! 0007) opens, migrates, verifies, and its chain goes on: `fixtures/main-ad1742e.db` holds
//! six requests (five denied, one active with a recorded object), a failed authentication
//! and a promotion, 23 events.

use jiff::Timestamp;

use super::conformance::{denied, request};
use super::*;
use crate::audit::{self, Actor};

const FIXTURE: &[u8] = include_bytes!("fixtures/main-ad1742e.db");

/// A copy of the fixture in a fresh directory (the original stays untouched).
fn copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wicket.db");
    std::fs::write(&path, FIXTURE).unwrap();
    (dir, path)
}

#[tokio::test]
async fn a_database_of_the_previous_release_opens_verifies_and_its_chain_goes_on() {
    let (_dir, path) = copy();
    let store = SqliteStore::open(&path).await.unwrap();
    let report = audit::verify(&store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, 23);
    let (_, head) = report.head.unwrap();

    let active = store.requests_in_state(RequestState::Active).await.unwrap();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].id, "fixture-active");
    let objects = store.objects_of("fixture-active", false).await.unwrap();
    assert_eq!(objects[0].object.name, "wicket-fixture");
    assert_eq!(store.promotions().await.unwrap().len(), 1);

    // Lists page by (created_at, id) over the migrated indexes, and a cursor in the form
    // earlier releases handed out still pages on.
    let own = ListFilter {
        requester: Some(("https://login.example.com".into(), "alice".into())),
        limit: 2,
        ..ListFilter::default()
    };
    let first = store.list_requests(&own).await.unwrap();
    let ids: Vec<&str> = first.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["fixture-3", "fixture-2"]);
    let old_cursor = format!(
        "{}.fixture-2",
        "2026-11-21T10:00:02Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond()
    );
    assert_eq!(first.next.as_deref(), Some(old_cursor.as_str()));
    let rest = store
        .list_requests(&ListFilter {
            cursor: Some(old_cursor),
            limit: 10,
            ..own
        })
        .await
        .unwrap();
    let ids: Vec<&str> = rest.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["fixture-1", "fixture-active", "fixture-0"]);

    // New changes chain on from the stored head.
    store
        .transition(Transition {
            id: "fixture-active",
            from: RequestState::Active,
            to: RequestState::Expired,
            actor: &Actor::service("expiry"),
            note: None,
            detail: None,
            expires_at: None,
        })
        .await
        .unwrap();
    denied(&store, &request("after-upgrade"), "alice").await;
    let next = store.audit_events(23, 10).await.unwrap();
    assert_eq!(next[0].seq, 24);
    assert_eq!(next[0].prev_hash, head);
    store.close().await;

    let reopened = SqliteStore::open(&path).await.unwrap();
    let report = audit::verify(&reopened, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, 27);
}
