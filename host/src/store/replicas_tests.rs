//! The replica registry on SQLite across processes: two stores on one file (two replicas)
//! see each other's heartbeats and never publish the same generation.

use std::sync::Arc;

use jiff::Timestamp;

use super::{PolicyDigests, ReplicaRecord, SqliteStore, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_share_replicas_and_generations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wicket.db");
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let record = |id: &str| ReplicaRecord {
        id: id.to_owned(),
        started_at: Timestamp::now(),
        last_seen: Timestamp::UNIX_EPOCH,
        generation: 0,
        serving: 1,
        digests: PolicyDigests::new(),
    };
    a.heartbeat(&record("a")).await.unwrap();
    b.heartbeat(&record("b")).await.unwrap();
    for store in [&a, &b] {
        let ids: Vec<String> = store
            .replicas(Timestamp::UNIX_EPOCH)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }
    let racers: Vec<_> = (0..20)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                store
                    .publish_generation(&format!("r{i}"), "api", &PolicyDigests::new())
                    .await
                    .unwrap()
                    .generation
            })
        })
        .collect();
    let mut generations = Vec::new();
    for racer in racers {
        generations.push(racer.await.unwrap());
    }
    generations.sort_unstable();
    assert_eq!(generations, (1..=20).collect::<Vec<u64>>());
    assert_eq!(b.reload_generation().await.unwrap().unwrap().generation, 20);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_heartbeat_forgets_replicas_gone_for_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("wicket.db"))
        .await
        .unwrap();
    let seen = |ago: jiff::SignedDuration| (Timestamp::now() - ago).as_millisecond();
    for (id, last_seen) in [
        (
            "gone",
            seen(super::FORGET_REPLICAS_AFTER + jiff::SignedDuration::from_secs(60)),
        ),
        (
            "away",
            seen(super::FORGET_REPLICAS_AFTER - jiff::SignedDuration::from_secs(60)),
        ),
    ] {
        sqlx::query(
            "INSERT INTO replicas (id, started_at, last_seen, generation, serving, digests)
             VALUES (?, 0, ?, 0, 0, '{}')",
        )
        .bind(id)
        .bind(last_seen)
        .execute(store.pool())
        .await
        .unwrap();
    }
    let record = ReplicaRecord {
        id: "here".to_owned(),
        started_at: Timestamp::now(),
        last_seen: Timestamp::UNIX_EPOCH,
        generation: 0,
        serving: 1,
        digests: PolicyDigests::new(),
    };
    store.heartbeat(&record).await.unwrap();
    let ids: Vec<String> = store
        .replicas(Timestamp::UNIX_EPOCH)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["away", "here"]);
}
