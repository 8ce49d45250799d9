//! The single writer's group commit: concurrent writes each stored exactly once with their
//! events in order, batches that really carry several writes, and a failing write that is
//! rolled back alone.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use sqlx::Row;

use super::tests::{decided, denied, identity, request, test_store};
use super::*;
use crate::audit::{self, Actor, AuthenticationFailures, Details};
use crate::policy::types::Decision;

/// Polls `check` until it holds; panics after a generous bound.
async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Holds SQLite's write lock from a pooled connection until [`WriteLock::release`], so the
/// writer stalls in `BEGIN IMMEDIATE` and the writes handed over meanwhile queue up. The writer
/// waits on a blocking thread: these tests run on a single-threaded runtime, so a writer that
/// waited on its caller's thread would never let them release the lock.
struct WriteLock(sqlx::pool::PoolConnection<sqlx::Sqlite>);

impl WriteLock {
    async fn take(store: &Store) -> Self {
        let mut conn = store.pool().acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .unwrap();
        Self(conn)
    }

    async fn release(mut self) {
        sqlx::query("COMMIT").execute(&mut *self.0).await.unwrap();
    }
}

/// Starts one write while the writer is stalled by `lock`, and waits until the writer took it,
/// so that every write handed over after it waits for the next batch.
async fn stall_writer(store: &Store) -> (WriteLock, tokio::task::JoinHandle<RequestRecord>) {
    let lock = WriteLock::take(store).await;
    let first = {
        let store = store.clone();
        tokio::spawn(async move { denied(&store, &request("first"), "alice").await })
    };
    let before = store.write_stats().batches;
    wait_until("the writer to take the first write", || {
        store.write_stats().batches > before
    })
    .await;
    (lock, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_each_stored_once_with_their_events_in_order() {
    let t = test_store().await;
    let requests = 200;
    let mut tasks = Vec::new();
    for n in 0..requests {
        let store = t.store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("r{n:03}");
            if n % 2 == 0 {
                denied(&store, &request(&id), &format!("user{n}")).await;
                return 3;
            }
            let allow: Decision =
                serde_json::from_str(include_str!("fixtures/allow.json")).unwrap();
            decided(
                &store,
                &request(&id),
                &format!("user{n}"),
                &allow,
                RequestState::Approved,
            )
            .await
            .unwrap();
            store
                .transition(Transition {
                    id: &id,
                    from: RequestState::Approved,
                    to: RequestState::Provisioning,
                    actor: &Actor::service("workflow"),
                    note: None,
                    detail: None,
                    expires_at: None,
                })
                .await
                .unwrap();
            4
        }));
    }
    let mut events = 0;
    for task in tasks {
        events += task.await.unwrap();
    }
    let stats = t.store.write_stats();
    assert_eq!(stats.writes, 300, "one write per decided request and move");

    // Everything answered survives a restart.
    let path = t.dir.path().join("data/wicket.db");
    t.store.close().await;
    let store = Store::open(&path).await.unwrap();

    let rows = sqlx::query("SELECT id, state FROM requests ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), requests);
    let states: BTreeMap<String, String> = rows
        .iter()
        .map(|row| (row.get("id"), row.get("state")))
        .collect();
    for n in 0..requests {
        let expected = if n % 2 == 0 { "denied" } else { "provisioning" };
        assert_eq!(states[&format!("r{n:03}")], expected);
    }

    let all = store.audit_events(0, 10_000).await.unwrap();
    assert_eq!(all.len(), events);
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events as i64).collect::<Vec<_>>());
    for n in 0..requests {
        let id = format!("r{n:03}");
        let kinds: Vec<String> = all
            .iter()
            .filter(|e| e.request_id.as_deref() == Some(id.as_str()))
            .map(|e| e.kind.clone())
            .collect();
        let mut expected = vec!["request_received", "verdict", "state_changed"];
        if n % 2 == 1 {
            expected.push("state_changed");
        }
        assert_eq!(kinds, expected, "the events of `{id}`, in order");
    }
    let report = audit::verify(&store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, events as u64);
}

#[tokio::test]
async fn writes_waiting_together_are_committed_in_one_batch() {
    let t = test_store().await;
    let (lock, first) = stall_writer(&t.store).await;
    let waiting = 20;
    let tasks: Vec<_> = (0..waiting)
        .map(|n| {
            let store = t.store.clone();
            tokio::spawn(async move { denied(&store, &request(&format!("w{n}")), "bob").await })
        })
        .collect();
    wait_until("the writes to queue up", || {
        t.store.writer.queued() == waiting
    })
    .await;
    let before = t.store.write_stats();
    lock.release().await;
    first.await.unwrap();
    for task in tasks {
        assert_eq!(task.await.unwrap().state, RequestState::Denied);
    }
    let after = t.store.write_stats();
    assert_eq!(
        after.batches - before.batches,
        1,
        "the {waiting} queued writes share one transaction"
    );
    assert_eq!(after.writes - before.writes, waiting as u64);
    let report = audit::verify(&t.store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, 3 * (waiting as u64 + 1));
}

#[tokio::test]
async fn a_failing_write_is_rolled_back_alone_and_the_others_are_committed() {
    let t = test_store().await;
    denied(&t.store, &request("taken"), "alice").await;
    let (lock, first) = stall_writer(&t.store).await;

    // In the same batch: a new request, a duplicate id, a write that appends an event and then
    // fails, and another new request.
    let spawn_denied = |id: &'static str| {
        let store = t.store.clone();
        tokio::spawn(async move { decided_deny(&store, id).await })
    };
    let before_id = spawn_denied("before");
    wait_until("the first write to queue", || t.store.writer.queued() == 1).await;
    let duplicate = spawn_denied("taken");
    wait_until("the duplicate to queue", || t.store.writer.queued() == 2).await;
    let broken = {
        let store = t.store.clone();
        tokio::spawn(async move {
            store
                .write(|tx| {
                    let details = Details::AuthenticationFailed(AuthenticationFailures::Single {
                        code: "expired".into(),
                        message: "appended, then rolled back".into(),
                    });
                    let event = super::audit_log::Prepared::new(&Actor::Anonymous, &details)?;
                    tx.append(None, event)?;
                    Err::<(), _>(Error::Corrupt("the write failed halfway".into()))
                })
                .await
        })
    };
    wait_until("the broken write to queue", || t.store.writer.queued() == 3).await;
    let after_id = spawn_denied("after");
    wait_until("the last write to queue", || t.store.writer.queued() == 4).await;
    let batches = t.store.write_stats().batches;
    lock.release().await;

    first.await.unwrap();
    assert_eq!(
        before_id.await.unwrap().unwrap().state,
        RequestState::Denied
    );
    assert_eq!(
        duplicate.await.unwrap().unwrap_err().to_string(),
        "request `taken` already exists"
    );
    assert_eq!(
        broken.await.unwrap().unwrap_err().to_string(),
        "stored data is invalid: the write failed halfway"
    );
    assert_eq!(after_id.await.unwrap().unwrap().state, RequestState::Denied);
    assert_eq!(
        t.store.write_stats().batches - batches,
        1,
        "all four in one batch"
    );

    let events = t.store.audit_events(0, 100).await.unwrap();
    assert!(
        events.iter().all(|e| e
            .details
            .get("message")
            .is_none_or(|m| m != "appended, then rolled back")),
        "the failed write left no event"
    );
    let ids: HashSet<Option<&str>> = events.iter().map(|e| e.request_id.as_deref()).collect();
    assert_eq!(
        ids,
        HashSet::from([Some("taken"), Some("first"), Some("before"), Some("after")])
    );
    assert_eq!(
        events.len(),
        12,
        "three events for each of the four requests"
    );
    let report = audit::verify(&t.store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, 12);
}

async fn decided_deny(store: &Store, id: &str) -> Result<RequestRecord> {
    decided(
        store,
        &request(id),
        "carol",
        &Decision::Deny {
            reason: "no".into(),
        },
        RequestState::Denied,
    )
    .await
}

#[tokio::test]
async fn writes_after_close_are_refused() {
    let t = test_store().await;
    denied(&t.store, &request("r1"), "alice").await;
    t.store.close().await;
    let details = Details::AuthenticationFailed(AuthenticationFailures::Single {
        code: "expired".into(),
        message: "after the close".into(),
    });
    let error = t
        .store
        .append_audit(None, &Actor::user(&identity("alice")), &details)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Closed), "{error}");
}

/// When the last write of a batch fails, the writes before it are still committed.
#[tokio::test]
async fn when_the_last_write_of_a_batch_fails_the_others_are_still_committed() {
    let t = test_store().await;
    denied(&t.store, &request("taken"), "alice").await;
    let (lock, first) = stall_writer(&t.store).await;
    let spawn_denied = |id: &'static str| {
        let store = t.store.clone();
        tokio::spawn(async move { decided_deny(&store, id).await })
    };
    let kept = spawn_denied("kept");
    wait_until("the first write to queue", || t.store.writer.queued() == 1).await;
    let duplicate = spawn_denied("taken");
    wait_until("the duplicate to queue", || t.store.writer.queued() == 2).await;
    lock.release().await;

    first.await.unwrap();
    assert_eq!(kept.await.unwrap().unwrap().id, "kept");
    assert!(matches!(
        duplicate.await.unwrap(),
        Err(Error::Duplicate(id)) if id == "taken"
    ));
    // A fresh connection sees what was committed.
    let path = t.dir.path().join("data/wicket.db");
    t.store.close().await;
    let store = Store::open(&path).await.unwrap();
    assert_eq!(
        store.get_request("kept").await.unwrap().state,
        RequestState::Denied
    );
    let report = audit::verify(&store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, 9);
}

#[tokio::test]
async fn a_panicking_write_is_answered_and_the_writer_carries_on() {
    let t = test_store().await;
    let error = t
        .store
        .write::<(), _>(|tx| {
            let details = Details::AuthenticationFailed(AuthenticationFailures::Single {
                code: "expired".into(),
                message: "appended, then panicked".into(),
            });
            tx.append(
                None,
                super::audit_log::Prepared::new(&Actor::Anonymous, &details)?,
            )?;
            panic!("a bug in a write")
        })
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Panicked), "{error}");
    let record = denied(&t.store, &request("after"), "alice").await;
    assert_eq!(record.state, RequestState::Denied);
    let events = t.store.audit_events(0, 100).await.unwrap();
    assert_eq!(
        events.len(),
        3,
        "only the later request's events: {events:?}"
    );
    let report = audit::verify(&t.store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
}

/// The WAL's checkpoint sequence number (bytes 12..16 of its header, big-endian): it goes up
/// each time the WAL starts over from its first frame.
fn wal_restarts(wal: &std::path::Path) -> u32 {
    use std::io::Read;
    let mut header = [0u8; 16];
    std::fs::File::open(wal)
        .and_then(|mut file| file.read_exact(&mut header))
        .unwrap();
    u32::from_be_bytes([header[12], header[13], header[14], header[15]])
}

/// Writes back to back, never pausing long enough for a passive checkpoint to catch up with
/// the writer: the WAL must still start over (and not grow by every commit, without end).
#[tokio::test]
async fn sustained_writes_start_the_wal_over_rather_than_grow_it() {
    let t = test_store().await;
    let wal = t.dir.path().join("data/wicket.db-wal");
    decided_deny(&t.store, "first").await.unwrap();
    let restarts = wal_restarts(&wal);
    for n in 0..20_000 {
        decided_deny(&t.store, &format!("r{n}")).await.unwrap();
        if wal_restarts(&wal) != restarts {
            let report = audit::verify(&t.store, Vec::new()).await.unwrap();
            assert!(report.is_intact(), "{report}");
            assert_eq!(report.events, 3 * (n + 2));
            return;
        }
    }
    panic!("20000 writes back to back and the WAL never started over");
}
