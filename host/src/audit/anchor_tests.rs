//! Anchors, the exporter and archives, over rows held in memory (no database: `audit` reads
//! none).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::anchor::{Anchor, AnchorKey, Anchors, KeyError};
use super::canonical::to_canonical_json;
use super::chain::{self, Canonical, GENESIS_HASH};
use super::exporter::{Exporter, Settings};
use super::{AuditRows, Break, Details, Finding, SourceError, StoredRow, Verifier, archive};

const INSTALLATION: &str = "0123456789abcdef0123456789abcdef";
const T0: i64 = 1_796_000_000_000;

/// A chain held in memory; events appended after a [`Memory::truncate`] say something else
/// than those it removed.
#[derive(Debug, Clone, Default)]
struct Memory(Arc<Mutex<Vec<StoredRow>>>, Arc<Mutex<String>>);

impl Memory {
    fn with(events: i64) -> Self {
        let memory = Self::default();
        memory.append(events);
        memory
    }

    /// Appends `count` events, chained as the store chains them, one second apart.
    fn append(&self, count: i64) {
        let mut rows = self.0.lock().unwrap();
        let rewritten = self.1.lock().unwrap().clone();
        for _ in 0..count {
            let seq = rows.len() as i64 + 1;
            let prev_hash = rows
                .last()
                .map_or(GENESIS_HASH.to_owned(), |r| r.hash.clone());
            let details = Details::StateChanged {
                from: "active".into(),
                to: "expired".into(),
                note: Some(format!("event {seq}{rewritten}")),
            };
            let actor = to_canonical_json(&super::Actor::service("expiry")).unwrap();
            let details = to_canonical_json(&details).unwrap();
            let time = T0 + seq * 1000;
            let request_id = format!("r{}", (seq + 1) / 2);
            let hash = chain::canonical_event_hash(
                &prev_hash,
                Canonical {
                    seq,
                    time: jiff::Timestamp::from_millisecond(time).unwrap(),
                    kind: "state_changed",
                    request_id: Some(&request_id),
                    actor: &actor,
                    details: &details,
                },
            );
            rows.push(StoredRow {
                seq,
                time,
                kind: "state_changed".into(),
                request_id: Some(request_id),
                actor,
                details,
                prev_hash,
                hash,
            });
        }
    }

    fn rows(&self) -> Vec<StoredRow> {
        self.0.lock().unwrap().clone()
    }

    /// Keeps the first `count` events only.
    fn truncate(&self, count: usize) {
        self.0.lock().unwrap().truncate(count);
        self.1.lock().unwrap().push_str(" (rewritten)");
    }
}

impl AuditRows for Memory {
    async fn rows_after(&self, after: i64, limit: u32) -> Result<Vec<StoredRow>, SourceError> {
        Ok(self
            .rows()
            .into_iter()
            .filter(|row| row.seq > after)
            .take(limit as usize)
            .collect())
    }

    async fn first_seq_since(&self, time: i64) -> Result<Option<i64>, SourceError> {
        Ok(self
            .rows()
            .into_iter()
            .find(|row| row.time >= time)
            .map(|row| row.seq))
    }
}

fn key() -> AnchorKey {
    AnchorKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap()
}

fn settings(dir: &Path) -> Settings {
    Settings {
        key: key(),
        installation: INSTALLATION.to_owned(),
        anchor_file: dir.join("anchors.jsonl"),
        events_file: Some(dir.join("events.jsonl")),
        interval: Duration::from_secs(3600),
    }
}

fn anchors_in(dir: &Path) -> Anchors {
    let text = std::fs::read_to_string(dir.join("anchors.jsonl")).unwrap();
    Anchors::read(&text, &key(), Some(INSTALLATION)).unwrap()
}

fn verify_rows(rows: &[StoredRow], anchors: &Anchors) -> super::VerifyReport {
    let mut verifier = Verifier::new(anchors.anchors.clone());
    for row in rows {
        if !verifier.push(row) {
            break;
        }
    }
    verifier.finish()
}

#[test]
fn an_anchor_checks_out_only_unchanged_and_under_its_key() {
    let anchor = Anchor::new(&key(), INSTALLATION, 7, "ab");
    assert!(anchor.is_authentic(&key()));
    let line = anchor.to_line();
    assert!(
        line.starts_with(r#"{"at":""#) && line.ends_with("}\n"),
        "{line}"
    );
    let other = AnchorKey::from_bytes(&[1; 32]).unwrap();
    assert!(!anchor.is_authentic(&other));
    for altered in [
        Anchor {
            seq: 8,
            ..anchor.clone()
        },
        Anchor {
            hash: "ac".into(),
            ..anchor.clone()
        },
        Anchor {
            installation: "other".into(),
            ..anchor.clone()
        },
        Anchor {
            at: anchor.at + jiff::SignedDuration::from_millis(1),
            ..anchor.clone()
        },
        Anchor {
            mac: "not hex".into(),
            ..anchor.clone()
        },
    ] {
        assert!(!altered.is_authentic(&key()), "{altered:?}");
    }
    assert!(AnchorKey::from_bytes(&[0; 31]).is_none());
}

#[test]
fn an_anchor_file_is_read_line_by_line_and_the_first_bad_line_named() {
    let ours = Anchor::new(&key(), INSTALLATION, 3, "h3").to_line();
    let later = Anchor::new(&key(), INSTALLATION, 9, "h9").to_line();
    let theirs = Anchor::new(&key(), "another", 5, "h5").to_line();
    let text = format!("{later}{theirs}{{\"seq\":4,\"ha\n{ours}");
    let read = Anchors::read(&text, &key(), Some(INSTALLATION)).unwrap();
    assert_eq!(
        read.anchors
            .iter()
            .map(|p| (p.line, p.anchor.seq))
            .collect::<Vec<_>>(),
        [(4, 3), (1, 9)],
        "ordered by seq, lines kept"
    );
    assert_eq!((read.other_installations, read.skipped), (1, 1));

    let forged = Anchor::new(
        &AnchorKey::from_bytes(&[9; 32]).unwrap(),
        INSTALLATION,
        4,
        "x",
    );
    let bad = Anchors::read(
        &format!("{ours}{}", forged.to_line()),
        &key(),
        Some(INSTALLATION),
    )
    .unwrap_err();
    assert_eq!(bad.line, 2);
    assert!(bad.reason.contains("mac does not match"), "{bad}");
    let bad = Anchors::read(&format!("{ours}{{\"seq\":4}}\n"), &key(), None).unwrap_err();
    assert_eq!(bad.line, 2);
    assert!(bad.reason.starts_with("not an anchor"), "{bad}");
}

#[cfg(unix)]
#[test]
fn a_key_file_others_may_read_a_short_key_and_a_link_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key");
    std::fs::write(&path, format!("{}\n", "a".repeat(32))).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let refused = AnchorKey::load(&path).unwrap_err();
    assert!(
        refused.to_string().contains("can be read by other users"),
        "{refused}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    AnchorKey::load(&path).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(matches!(AnchorKey::load(&link), Err(KeyError::File(_))));
    std::fs::write(&path, "short").unwrap();
    assert!(matches!(
        AnchorKey::load(&path),
        Err(KeyError::Short { bytes: 5, .. })
    ));
}

#[tokio::test]
async fn the_exporter_anchors_each_new_head_and_once_more_when_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Memory::with(3);
    let mut exporter = Exporter::open(memory.clone(), settings(dir.path())).unwrap();
    let first = exporter.round().await.unwrap().unwrap();
    assert_eq!(
        (first.seq, first.hash.as_str()),
        (3, memory.rows()[2].hash.as_str())
    );
    assert!(
        exporter.round().await.unwrap().is_none(),
        "no new event, no anchor"
    );
    memory.append(2);
    let running = exporter.spawn();
    // The spawned exporter's first round anchors event 5 at once; the next is an hour away,
    // so events appended after it are anchored by the last round, at stop.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while anchors_in(dir.path()).last().map(|p| p.anchor.seq) != Some(5) {
        assert!(std::time::Instant::now() < deadline, "no anchor of event 5");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    memory.append(4);
    running.stop().await;
    let anchors = anchors_in(dir.path());
    assert_eq!(anchors.last().unwrap().anchor.seq, 9);
    assert!(verify_rows(&memory.rows(), &anchors).is_intact());
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let seqs: Vec<i64> = events
        .lines()
        .map(|l| serde_json::from_str::<super::AuditEvent>(l).unwrap().seq)
        .collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_exporter_never_anchors_a_chain_that_does_not_continue_its_last_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Memory::with(6);
    let mut exporter = Exporter::open(memory.clone(), settings(dir.path())).unwrap();
    exporter.round().await.unwrap().unwrap();
    drop(exporter);

    // Cut back below the anchor, then grown again past it: a different event 6.
    memory.truncate(4);
    memory.append(5);
    let mut exporter = Exporter::open(memory.clone(), settings(dir.path())).unwrap();
    assert!(exporter.round().await.unwrap().is_none());
    assert!(
        matches!(
            exporter.diverged(),
            Some(Finding::Event {
                seq: 6,
                reason: Break::NotAnchored { .. },
                ..
            })
        ),
        "{:?}",
        exporter.diverged()
    );
    memory.append(1);
    assert!(
        exporter.round().await.unwrap().is_none(),
        "still nothing written"
    );
    assert_eq!(anchors_in(dir.path()).anchors.len(), 1);

    // Cut back below the anchor and not grown past it.
    memory.truncate(3);
    let mut exporter = Exporter::open(memory.clone(), settings(dir.path())).unwrap();
    assert!(exporter.round().await.unwrap().is_none());
    assert!(matches!(
        exporter.diverged(),
        Some(Finding::EndsBefore { anchored: 6, .. })
    ));
}

#[tokio::test]
async fn a_write_cut_short_is_ended_and_skipped_and_events_are_not_exported_twice() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Memory::with(2);
    let mut exporter = Exporter::open(memory.clone(), settings(dir.path())).unwrap();
    exporter.round().await.unwrap().unwrap();
    drop(exporter);
    for file in ["anchors.jsonl", "events.jsonl"] {
        let mut text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        text.push_str("{\"seq\":3,\"ha");
        std::fs::write(dir.path().join(file), text).unwrap();
    }
    memory.append(2);
    let mut exporter = Exporter::open(memory.clone(), settings(dir.path())).unwrap();
    assert_eq!(exporter.round().await.unwrap().unwrap().seq, 4);
    let anchors = anchors_in(dir.path());
    assert_eq!((anchors.anchors.len(), anchors.skipped), (2, 1));
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    let seqs: Vec<i64> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<super::AuditEvent>(l).ok())
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let exported = super::exported(&events, &anchors.anchors);
    assert_eq!(
        exported.len(),
        4,
        "every event is vouched for by the anchor of 4"
    );
}

#[cfg(unix)]
#[test]
fn a_sink_that_is_a_symbolic_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("anchors.jsonl")).unwrap();
    let refused = Exporter::open(Memory::with(1), settings(dir.path())).unwrap_err();
    assert!(refused.to_string().contains("symbolic link"), "{refused}");
}

#[tokio::test]
async fn an_archive_verifies_on_its_own_and_shows_any_change() {
    let dir = tempfile::tempdir().unwrap();
    let memory = Memory::with(4);
    let mut exporter = Exporter::open(memory.clone(), settings(dir.path())).unwrap();
    exporter.round().await.unwrap().unwrap();
    memory.append(4);
    exporter.round().await.unwrap().unwrap();
    memory.append(1);
    let anchors = anchors_in(dir.path());

    // Events 1-7 are before the time; the newest anchor among them is at 4.
    let before = jiff::Timestamp::from_millisecond(T0 + 7500).unwrap();
    let mut out = Vec::new();
    let written = archive::write(&memory, &anchors, before, &mut out)
        .await
        .unwrap();
    assert_eq!((written.events, written.anchor.seq), (4, 4));
    let text = String::from_utf8(out).unwrap();
    let report = archive::verify(&text, &key()).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.head.as_ref().map(|h| h.0), Some(4));

    let tampered = text.replacen("event 2", "event 0", 1);
    let report = archive::verify(&tampered, &key()).unwrap();
    assert!(
        matches!(
            report.broken,
            Some(Finding::Event {
                seq: 2,
                reason: Break::Modified,
                ..
            })
        ),
        "{report}"
    );
    let without_anchor: String = text.lines().take(4).map(|l| format!("{l}\n")).collect();
    assert!(archive::verify(&without_anchor, &key()).is_err());
    let beyond_anchor = format!(
        "{text}{}",
        text.lines()
            .next()
            .unwrap()
            .replace("\"seq\":1", "\"seq\":5")
    );
    let report = archive::verify(&beyond_anchor, &key()).unwrap();
    assert!(!report.is_intact(), "{report}");
    assert!(archive::verify(&text, &AnchorKey::from_bytes(&[3; 32]).unwrap()).is_err());

    let too_early = jiff::Timestamp::from_millisecond(T0 + 2500).unwrap();
    let refused = archive::write(&memory, &anchors, too_early, Vec::new())
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("no anchor vouches"),
        "{refused}"
    );
}
