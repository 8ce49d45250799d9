//! The audit trail cannot be rewritten unnoticed: a database written through the store, its
//! chain anchored by the exporter (HMAC with a key outside the database, appended to a
//! sink), then copies of it forged as someone with write access to the database would
//! (dropping the append-only triggers, re-hashing, restoring them) and checked with the real
//! `wicket audit verify`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use sqlx::Row as _;
use sqlx::sqlite::SqliteConnectOptions;
use wicket::audit::chain::{self, Canonical};
use wicket::audit::exporter::{Exporter, Settings};
use wicket::audit::{Actor, Anchor, AnchorKey, AuditEvent, Details};
use wicket::store::Store;

/// Requests written, each an escalation of 8 events, anchored after each one.
const REQUESTS: usize = 6;
const EVENTS_PER_REQUEST: i64 = 8;

/// The 8 events of one granted request, as the workflow writes them.
fn escalation(n: usize) -> Vec<(Actor, Details)> {
    let details = |json: serde_json::Value| -> Details {
        serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{e}: {json}"))
    };
    let user = Actor::User {
        issuer: "https://login.example.com".into(),
        subject: format!("user-{n}"),
    };
    let workflow = Actor::service("workflow");
    let state = |from: &str, to: &str| {
        details(serde_json::json!({"kind": "state_changed", "from": from, "to": to, "note": null}))
    };
    let object = |kind: &str| {
        details(serde_json::json!({"kind": "object_created",
            "object": {"kind": kind, "namespace": "payments", "name": format!("wicket-r{n}")}}))
    };
    vec![
        (
            user.clone(),
            details(
                serde_json::json!({"kind": "request_received", "cluster": "prod",
                "namespaces": ["payments"], "access": {"role": "edit"}, "cluster_rules": [],
                "duration_seconds": 1800, "reason": format!("INC-{n}: payments down"),
                "context": {}}),
            ),
        ),
        (
            workflow.clone(),
            details(serde_json::json!({"kind": "verdict", "modules": [],
                "decision": {"decision": "allow", "grant": {"ttl_seconds": 1800,
                    "namespaces": [{"namespace": "payments", "role": "edit"}]}}})),
        ),
        (workflow.clone(), state("received", "approved")),
        (workflow.clone(), state("approved", "provisioning")),
        (workflow.clone(), object("ServiceAccount")),
        (workflow.clone(), object("RoleBinding")),
        (workflow.clone(), state("provisioning", "active")),
        (
            user,
            details(serde_json::json!({"kind": "kubeconfig_issued",
                "expires_at": "2026-12-07T12:30:00Z"})),
        ),
    ]
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    key: PathBuf,
    anchors: PathBuf,
    events: PathBuf,
}

impl Fixture {
    fn database(&self) -> PathBuf {
        self.dir.join("wicket.db")
    }

    /// A copy of the database, to forge.
    fn copy(&self, name: &str) -> PathBuf {
        let copy = self.dir.join(name);
        std::fs::create_dir(&copy).unwrap();
        std::fs::copy(self.database(), copy.join("wicket.db")).unwrap();
        copy.join("wicket.db")
    }

    fn verify(&self, database: &Path, anchors: &Path) -> Output {
        wicket(&[
            "audit".as_ref(),
            "verify".as_ref(),
            "--data".as_ref(),
            database.as_os_str(),
            "--anchors".as_ref(),
            anchors.as_os_str(),
            "--key".as_ref(),
            self.key.as_os_str(),
        ])
    }

    /// `verify` also given the events sink.
    fn verify_with_events(&self, database: &Path) -> Output {
        wicket(&[
            "audit".as_ref(),
            "verify".as_ref(),
            "--data".as_ref(),
            database.as_os_str(),
            "--anchors".as_ref(),
            self.anchors.as_os_str(),
            "--key".as_ref(),
            self.key.as_os_str(),
            "--events".as_ref(),
            self.events.as_os_str(),
        ])
    }
}

fn wicket(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wicket"))
        .args(args)
        .output()
        .expect("run wicket")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write_key(path: &Path, bytes: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn settings(fixture: &Fixture, installation: &str) -> Settings {
    Settings {
        key: AnchorKey::load(&fixture.key).unwrap(),
        installation: installation.to_owned(),
        anchor_file: fixture.anchors.clone(),
        events_file: Some(fixture.events.clone()),
        interval: Duration::from_secs(3600),
    }
}

/// A database of [`REQUESTS`] escalations written through the store, anchored after each
/// one by the exporter (reopened half way, as a restarted service reopens it).
async fn anchored_database() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Fixture {
        dir: dir.path().to_owned(),
        key: dir.path().join("audit-key"),
        anchors: dir.path().join("anchors.jsonl"),
        events: dir.path().join("events.jsonl"),
        _dir: dir,
    };
    write_key(&fixture.key, &"k3".repeat(32));
    let store = Store::open(&fixture.database()).await.unwrap();
    let installation = store.installation().to_owned();
    let mut exporter = Exporter::open(store.clone(), settings(&fixture, &installation)).unwrap();
    for n in 1..=REQUESTS {
        if n == REQUESTS / 2 + 1 {
            exporter = Exporter::open(store.clone(), settings(&fixture, &installation)).unwrap();
        }
        let id = format!("r{n}");
        for (actor, details) in escalation(n) {
            store
                .append_audit(Some(&id), &actor, &details)
                .await
                .unwrap();
        }
        let anchor = exporter.round().await.unwrap().expect("the head moved");
        assert_eq!(anchor.seq, n as i64 * EVENTS_PER_REQUEST);
        assert!(exporter.round().await.unwrap().is_none(), "nothing new");
    }
    store.close().await;
    fixture
}

async fn pool(database: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect_with(SqliteConnectOptions::new().filename(database))
        .await
        .unwrap()
}

const DROP_TRIGGERS: &str =
    "DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;";
const RESTORE_TRIGGERS: &str = "
    CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
    CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;";

/// What an attacker with the database does: removes the events of one request, renumbers
/// and re-hashes every later event so that the chain is whole again, restores the guards.
async fn rewrite_without_request(database: &Path, request: &str) {
    let pool = pool(database).await;
    sqlx::raw_sql(DROP_TRIGGERS).execute(&pool).await.unwrap();
    let rows = sqlx::query(
        "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
         FROM audit_events ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM audit_events")
        .execute(&pool)
        .await
        .unwrap();
    let mut prev_hash = chain::GENESIS_HASH.to_owned();
    let mut seq = 0;
    for row in rows {
        let request_id: Option<String> = row.get("request_id");
        if request_id.as_deref() == Some(request) {
            continue;
        }
        seq += 1;
        let time: i64 = row.get("time");
        let kind: String = row.get("kind");
        let actor: String = row.get("actor");
        let details: String = row.get("details");
        let hash = chain::canonical_event_hash(
            &prev_hash,
            Canonical {
                seq,
                time: jiff::Timestamp::from_millisecond(time).unwrap(),
                kind: &kind,
                request_id: request_id.as_deref(),
                actor: &actor,
                details: &details,
            },
        );
        sqlx::query(
            "INSERT INTO audit_events (seq, time, kind, request_id, actor, details, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(time)
        .bind(&kind)
        .bind(&request_id)
        .bind(&actor)
        .bind(&details)
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&pool)
        .await
        .unwrap();
        prev_hash = hash;
    }
    sqlx::raw_sql(RESTORE_TRIGGERS)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// (d) The untouched database checks out against every anchor.
#[tokio::test]
async fn an_untouched_anchored_log_is_intact() {
    let fixture = anchored_database().await;
    let out = fixture.verify(&fixture.copy("untouched"), &fixture.anchors);
    let line = stdout(&out);
    assert!(out.status.success(), "{line}");
    let events = REQUESTS as i64 * EVENTS_PER_REQUEST;
    assert!(
        line.starts_with(&format!(
            "audit chain intact: {events} events, head {events} "
        )),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "{REQUESTS} anchors match, the newest at event {events}"
        )),
        "{line}"
    );
    // The events sink holds every event once, in order, across the exporter's restart.
    let exported: Vec<i64> = std::fs::read_to_string(&fixture.events)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<AuditEvent>(line).unwrap().seq)
        .collect();
    assert_eq!(exported, (1..=events).collect::<Vec<_>>());
    let out = fixture.verify_with_events(&fixture.copy("with-events"));
    assert!(out.status.success(), "{}", stdout(&out));
}

/// (a) An escalation's 8 events deleted and the rest re-hashed (what made the old `verify`
/// say "intact"): the chain is whole, but the first anchor after the rewrite does not name
/// its hash. Without the anchors, the rewrite is invisible.
#[tokio::test]
async fn a_rewrite_in_the_middle_is_named_at_its_first_diverging_event() {
    let fixture = anchored_database().await;
    let forged = fixture.copy("rewritten");
    rewrite_without_request(&forged, "r3").await;

    let chain_only = wicket(&[
        "audit".as_ref(),
        "verify".as_ref(),
        "--data".as_ref(),
        forged.as_os_str(),
    ]);
    assert!(
        chain_only.status.success() && stdout(&chain_only).contains("no anchors checked"),
        "the chain alone is re-hashed whole: {}",
        stdout(&chain_only)
    );

    let out = fixture.verify(&forged, &fixture.anchors);
    let line = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    // Events 1-16 (r1, r2) are as anchored; the anchor of event 24 (r3's last) finds r4's
    // last event there.
    assert!(
        line.starts_with(
            "audit chain broken: event 24 (request `r4`): differs from the hash anchored for it \
             (anchor line 3): the chain was rewritten after event 16"
        ),
        "{line}"
    );

    // With the events sink (which the anchors vouch for), the very first rewritten event.
    let out = fixture.verify_with_events(&forged);
    let line = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{line}");
    assert_eq!(
        line.trim_end(),
        "audit chain broken: event 17 (request `r4`): differs from the event exported with its \
         number (which the anchors vouch for): the chain was rewritten from this event on"
    );
}

/// (b) The events after an anchor removed from the end: the chain is whole but ends before
/// the anchored head.
#[tokio::test]
async fn a_truncated_tail_ends_before_the_last_anchor() {
    let fixture = anchored_database().await;
    let forged = fixture.copy("truncated");
    let pool = pool(&forged).await;
    sqlx::raw_sql(DROP_TRIGGERS).execute(&pool).await.unwrap();
    sqlx::query("DELETE FROM audit_events WHERE seq > 44")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::raw_sql(RESTORE_TRIGGERS)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let out = fixture.verify(&forged, &fixture.anchors);
    let line = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{line}");
    assert_eq!(
        line.trim_end(),
        "audit chain broken: the chain ends at event 44, before anchored event 48 (anchor line \
         6): events were removed from its end"
    );
}

/// (c) An anchor the attacker appends for the rewritten head, without the key: its MAC is
/// named as forged, whatever the rows say.
#[tokio::test]
async fn an_anchor_forged_without_the_key_is_refused() {
    let fixture = anchored_database().await;
    let forged = fixture.copy("rewritten");
    rewrite_without_request(&forged, "r3").await;
    let store = Store::open(&forged).await.unwrap();
    let installation = store.installation().to_owned();
    let head: Vec<AuditEvent> = store.audit_events(39, 1).await.unwrap();
    store.close().await;
    assert_eq!(head.len(), 1);

    let guessed = AnchorKey::from_bytes(&[7u8; 32]).unwrap();
    let mut text = std::fs::read_to_string(&fixture.anchors).unwrap();
    // A fresh anchor for the forged head, and a genuine one altered to name it.
    text.push_str(&Anchor::new(&guessed, &installation, 40, &head[0].hash).to_line());
    let forged_anchors = fixture.dir.join("forged-anchors.jsonl");
    std::fs::write(&forged_anchors, &text).unwrap();
    let out = fixture.verify(&forged, &forged_anchors);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with(&format!(
            "audit anchors broken: `{}` line 7: its mac does not match",
            forged_anchors.display()
        )),
        "{}",
        stdout(&out)
    );

    let genuine = std::fs::read_to_string(&fixture.anchors).unwrap();
    let mut lines: Vec<String> = genuine.lines().map(str::to_owned).collect();
    let mut altered: Anchor = serde_json::from_str(&lines[5]).unwrap();
    altered.seq = 40;
    altered.hash.clone_from(&head[0].hash);
    lines[5] = altered.to_line().trim_end().to_owned();
    std::fs::write(&forged_anchors, lines.join("\n") + "\n").unwrap();
    let out = fixture.verify(&forged, &forged_anchors);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("line 6: its mac does not match"),
        "{}",
        stdout(&out)
    );
}

/// `wicket audit export --since` (a sequence number, a time) and `wicket audit archive`, whose
/// file `wicket audit verify --archive` checks on its own.
#[tokio::test]
async fn export_and_archive_through_the_cli() {
    let fixture = anchored_database().await;
    let database = fixture.copy("exported");
    let out = wicket(&[
        "audit".as_ref(),
        "export".as_ref(),
        "--data".as_ref(),
        database.as_os_str(),
        "--since".as_ref(),
        "41".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported: Vec<AuditEvent> = stdout(&out)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        exported.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (41..=48).collect::<Vec<_>>()
    );
    assert_eq!(exported[1].prev_hash, exported[0].hash);
    let sink = std::fs::read_to_string(&fixture.events).unwrap();
    assert!(
        sink.ends_with(&stdout(&out)),
        "the export and the events sink write the same lines"
    );
    let since = exported[0].time.to_string();
    let out = wicket(&[
        "audit".as_ref(),
        "export".as_ref(),
        "--data".as_ref(),
        database.as_os_str(),
        "--since".as_ref(),
        since.as_ref(),
    ]);
    let first = stdout(&out)
        .lines()
        .next()
        .map(|l| serde_json::from_str::<AuditEvent>(l).unwrap().seq);
    assert!(first.is_some_and(|seq| seq <= 41), "{first:?}");

    let archive = fixture.dir.join("archive.jsonl");
    let before = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    let archived = wicket(&[
        "audit".as_ref(),
        "archive".as_ref(),
        "--data".as_ref(),
        database.as_os_str(),
        "--anchors".as_ref(),
        fixture.anchors.as_os_str(),
        "--key".as_ref(),
        fixture.key.as_os_str(),
        "--before".as_ref(),
        before.to_string().as_ref(),
        "--out".as_ref(),
        archive.as_os_str(),
    ]);
    assert!(
        archived.status.success(),
        "{}",
        String::from_utf8_lossy(&archived.stderr)
    );
    assert!(
        stdout(&archived).starts_with("archived events 1 to 48"),
        "{}",
        stdout(&archived)
    );
    let again = wicket(&[
        "audit".as_ref(),
        "archive".as_ref(),
        "--data".as_ref(),
        database.as_os_str(),
        "--anchors".as_ref(),
        fixture.anchors.as_os_str(),
        "--key".as_ref(),
        fixture.key.as_os_str(),
        "--before".as_ref(),
        before.to_string().as_ref(),
        "--out".as_ref(),
        archive.as_os_str(),
    ]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an archive is never overwritten"
    );

    let check = |path: &Path| {
        wicket(&[
            "audit".as_ref(),
            "verify".as_ref(),
            "--archive".as_ref(),
            path.as_os_str(),
            "--key".as_ref(),
            fixture.key.as_os_str(),
        ])
    };
    let out = check(&archive);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("audit chain intact: 48 events, head 48"),
        "{}",
        stdout(&out)
    );
    let tampered = fixture.dir.join("tampered.jsonl");
    let text = std::fs::read_to_string(&archive).unwrap();
    std::fs::write(
        &tampered,
        text.replacen("INC-2: payments down", "INC-2: routine", 1),
    )
    .unwrap();
    let out = check(&tampered);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("audit chain broken: event 9 (request `r2`): was modified"),
        "{}",
        stdout(&out)
    );
}
