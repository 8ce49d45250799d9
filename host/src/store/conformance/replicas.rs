//! The conformance checks of the replica registry and the reload generation.

use std::sync::Arc;
use std::time::Duration;

use jiff::{Timestamp, ToSpan as _};

use crate::store::{EntryDigest, PolicyDigests, ReplicaRecord, Store};

fn digests(entries: &[(&str, &str, &str)]) -> PolicyDigests {
    let mut digests = PolicyDigests::new();
    for (cluster, entry, digest) in entries {
        digests
            .entry((*cluster).to_owned())
            .or_default()
            .push(EntryDigest {
                entry: (*entry).to_owned(),
                digest: (*digest).to_owned(),
            });
    }
    digests
}

fn replica(id: &str, generation: u64, digests: PolicyDigests) -> ReplicaRecord {
    ReplicaRecord {
        id: id.to_owned(),
        started_at: Timestamp::from_millisecond(1_700_000_000_000).unwrap(),
        last_seen: Timestamp::UNIX_EPOCH,
        generation,
        serving: generation + 1,
        digests,
    }
}

/// Heartbeats are stored with the store's clock, replace the replica's previous one and list
/// by id those seen since a time; a removed replica is gone. None of it is audited.
pub async fn replicas_heartbeat_and_are_listed_while_seen(store: Arc<dyn Store>) {
    assert!(
        store
            .replicas(Timestamp::UNIX_EPOCH)
            .await
            .unwrap()
            .is_empty()
    );
    let before = Timestamp::now() - 1.second();
    let served = digests(&[
        ("prod", "groups", "aa"),
        ("prod", "window", "bb"),
        ("dev", "groups", "cc"),
    ]);
    store
        .heartbeat(&replica("b", 1, served.clone()))
        .await
        .unwrap();
    store
        .heartbeat(&replica("a", 1, served.clone()))
        .await
        .unwrap();
    let listed = store.replicas(Timestamp::UNIX_EPOCH).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    for record in &listed {
        assert!(
            record.last_seen >= before,
            "last_seen is the store's clock: {record:?}"
        );
        assert_eq!(
            ReplicaRecord {
                last_seen: Timestamp::UNIX_EPOCH,
                ..record.clone()
            },
            replica(&record.id, 1, served.clone())
        );
    }
    let a_seen = listed[0].last_seen;

    // A later heartbeat replaces the earlier one; `b` falls out of the window.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let moved = digests(&[("prod", "groups", "dd")]);
    store
        .heartbeat(&replica("a", 2, moved.clone()))
        .await
        .unwrap();
    let recent = store.replicas(a_seen + 1.millisecond()).await.unwrap();
    assert_eq!(recent.len(), 1, "{recent:?}");
    assert_eq!(
        (
            recent[0].id.as_str(),
            recent[0].generation,
            recent[0].serving
        ),
        ("a", 2, 3)
    );
    assert_eq!(recent[0].digests, moved);
    assert!(recent[0].last_seen > a_seen);
    assert!(
        store
            .replicas(Timestamp::now() + 1.hour())
            .await
            .unwrap()
            .is_empty()
    );

    assert!(store.remove_replica("b").await.unwrap());
    assert!(!store.remove_replica("b").await.unwrap());
    let left = store.replicas(Timestamp::UNIX_EPOCH).await.unwrap();
    assert_eq!(
        left.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
    assert!(store.audit_events(0, 10).await.unwrap().is_empty());
}

/// Reload generations start at 1 and count up by one, each keeping who published it, why and
/// what it served; the current one is the last published.
pub async fn reload_generations_count_up_from_one(store: Arc<dyn Store>) {
    assert_eq!(store.reload_generation().await.unwrap(), None);
    let before = Timestamp::now() - 1.second();
    let first = digests(&[("prod", "groups", "aa")]);
    let published = store
        .publish_generation("a", "start", &first)
        .await
        .unwrap();
    assert_eq!(
        (
            published.generation,
            published.replica.as_str(),
            published.trigger.as_str()
        ),
        (1, "a", "start")
    );
    assert_eq!(published.digests, first);
    assert!(published.published_at >= before);
    assert_eq!(store.reload_generation().await.unwrap(), Some(published));

    let second = digests(&[("prod", "groups", "bb"), ("prod", "window", "cc")]);
    let published = store.publish_generation("b", "api", &second).await.unwrap();
    assert_eq!(
        (
            published.generation,
            published.replica.as_str(),
            published.trigger.as_str()
        ),
        (2, "b", "api")
    );
    assert_eq!(store.reload_generation().await.unwrap(), Some(published));
    let empty = store
        .publish_generation("b", "watch", &PolicyDigests::new())
        .await
        .unwrap();
    assert_eq!(empty.generation, 3);
    assert!(
        store
            .reload_generation()
            .await
            .unwrap()
            .unwrap()
            .digests
            .is_empty()
    );
}

/// Publishers racing each get a generation of their own: no generation is given twice and
/// none is skipped.
pub async fn racing_publishers_each_get_their_own_generation(store: Arc<dyn Store>) {
    let served = digests(&[("prod", "groups", "aa")]);
    let racers = (0..16).map(|i| {
        let (store, served) = (store.clone(), served.clone());
        tokio::spawn(async move {
            store
                .publish_generation(&format!("r{i}"), "api", &served)
                .await
                .unwrap()
                .generation
        })
    });
    let mut generations = Vec::new();
    for racer in racers {
        generations.push(racer.await.unwrap());
    }
    generations.sort_unstable();
    assert_eq!(generations, (1..=16).collect::<Vec<u64>>());
    assert_eq!(
        store.reload_generation().await.unwrap().unwrap().generation,
        16
    );
}
