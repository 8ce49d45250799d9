//! The audit trail cannot be rewritten unnoticed, end to end: real grants through the HTTP
//! API (kube-sim, the shipped policies), the service's exporter anchoring the chain as it
//! serves and once more at shutdown; then a copy of the database where one escalation's
//! events are deleted and the rest re-hashed behind restored triggers, as the issue found
//! `wicket audit verify` calling "intact".

use std::path::Path;
use std::time::Duration;

use sqlx::Row as _;
use sqlx::sqlite::SqliteConnectOptions;
use wicket::audit::chain::{self, Canonical};
use wicket::audit::{self, AnchorKey, Anchors, Break, Finding, Verifier};
use wicket::config::AuditConfig;
use wicket::store::Store;
use wicket_tests::Env;
use wicket_tests::tokens::token;

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");

fn private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// Deletes every event of `request`, renumbers and re-hashes the rest so that the chain is
/// whole again, with the append-only triggers dropped and restored: what someone with the
/// database file can do. Returns how many events were deleted and the first one's `seq`.
async fn rewrite_without(database: &Path, request: &str) -> (usize, i64) {
    let pool = sqlx::SqlitePool::connect_with(SqliteConnectOptions::new().filename(database))
        .await
        .unwrap();
    let triggers: Vec<String> =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(&pool)
            .await
            .unwrap();
    sqlx::raw_sql("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;")
        .execute(&pool)
        .await
        .unwrap();
    let rows = sqlx::query("SELECT * FROM audit_events ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events")
        .execute(&pool)
        .await
        .unwrap();
    let (mut deleted, mut first) = (0, None);
    let mut prev_hash = chain::GENESIS_HASH.to_owned();
    let mut seq = 0;
    for row in rows {
        let request_id: Option<String> = row.get("request_id");
        if request_id.as_deref() == Some(request) {
            deleted += 1;
            first.get_or_insert(row.get::<i64, _>("seq"));
            continue;
        }
        seq += 1;
        let (time, kind, actor, details): (i64, String, String, String) = (
            row.get("time"),
            row.get("kind"),
            row.get("actor"),
            row.get("details"),
        );
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
        sqlx::query("INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
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
    for trigger in triggers {
        // The schema's own trigger definitions, read back from the database.
        sqlx::raw_sql(sqlx::AssertSqlSafe(trigger))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    (deleted, first.expect("the request has events"))
}

#[tokio::test]
async fn a_rewritten_escalation_is_named_against_the_anchors_the_service_wrote() {
    let env = Env::start("1h").await;
    let key = env.dir.path().join("audit-key");
    private(&key, &"9f".repeat(32));
    let mut config = env.config.clone();
    config.audit = Some(AuditConfig {
        key_file: key.clone(),
        anchor_file: env.dir.path().join("anchors.jsonl"),
        anchor_interval: Duration::from_millis(200),
        events_file: Some(env.dir.path().join("events.jsonl")),
    });
    let audit_config = config.audit.clone().unwrap();
    let wicket = env.serve_with(&config, env.wasm_chain()).await;
    let alice = token("alice", &["sre"]);
    let mut ids = Vec::new();
    let mut anchored = 0;
    for _ in 0..3 {
        ids.push(wicket.grant(&alice, EDIT_PAYMENTS).await.0);
        // The exporter anchors each escalation within an interval.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(&audit_config.anchor_file).unwrap_or_default();
            let newest = text
                .lines()
                .filter_map(|line| serde_json::from_str::<audit::Anchor>(line).ok())
                .map(|anchor| anchor.seq)
                .max()
                .unwrap_or(0);
            if newest > anchored {
                anchored = newest;
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no new anchor: {text}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    wicket.stop().await;

    let key = AnchorKey::load(&key).unwrap();
    let database = env.data().join("wicket.db");
    let store = Store::open_existing(&database).await.unwrap();
    let installation = store.installation().to_owned();
    let anchor_text = std::fs::read_to_string(&audit_config.anchor_file).unwrap();
    let anchors = Anchors::read(&anchor_text, &key, Some(&installation)).unwrap();
    let untouched = audit::verify(&store, anchors.anchors.clone())
        .await
        .unwrap();
    store.close().await;
    assert!(untouched.is_intact(), "{untouched}");
    let (head, _) = untouched.head.clone().unwrap();
    assert_eq!(
        untouched.anchored,
        Some(head),
        "the anchor written at shutdown covers every event: {untouched}"
    );

    // The copy an attacker rewrites: the second escalation is gone, the rest re-hashed.
    let forged_dir = env.dir.path().join("forged");
    std::fs::create_dir(&forged_dir).unwrap();
    let forged = forged_dir.join("wicket.db");
    std::fs::copy(&database, &forged).unwrap();
    let (deleted, first) = rewrite_without(&forged, &ids[1]).await;
    assert!(deleted >= 6, "an escalation leaves its events: {deleted}");

    let store = Store::open_existing(&forged).await.unwrap();
    let chain_only = audit::verify(&store, Vec::new()).await.unwrap();
    assert!(
        chain_only.is_intact(),
        "without anchors the re-hashed chain looks whole: {chain_only}"
    );
    let against_anchors = audit::verify(&store, anchors.anchors.clone())
        .await
        .unwrap();
    // An anchor written while the escalation was there no longer matches (or, if none fell
    // between its events and the new end, the chain ends before the last anchor).
    match &against_anchors.broken {
        Some(Finding::Event {
            seq,
            reason: Break::NotAnchored { since, .. },
            ..
        }) => {
            assert!(*seq >= first, "{against_anchors}");
            assert!(since.is_none_or(|since| since < first), "{against_anchors}");
        }
        Some(Finding::EndsBefore { last, anchored, .. }) => {
            assert!(anchored > last, "{against_anchors}");
        }
        other => panic!("expected a divergence from the anchors, got {other:?}"),
    }
    let events = std::fs::read_to_string(audit_config.events_file.unwrap()).unwrap();
    let exported = audit::exported(&events, &anchors.anchors);
    let verifier = Verifier::new(anchors.anchors).with_exported(exported);
    let exact = audit::verify_with(&store, verifier).await.unwrap();
    store.close().await;
    assert!(
        matches!(
            &exact.broken,
            Some(Finding::Event { seq, reason: Break::NotExported, request_id })
                if *seq == first && request_id.as_deref() == Some(ids[2].as_str())
        ),
        "the first rewritten event, now the third escalation's first: {exact}"
    );
}
