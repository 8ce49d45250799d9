//! The audit log over the store: verification of stored rows, tampering with the database,
//! export and redaction of what reaches the log.

use rstest::rstest;

use crate::audit::chain::{self, REDACTED_KUBECONFIG, REDACTED_TOKEN};
use crate::audit::{
    Actor, AuditEvent, AuthenticationFailures, Break, Details, Finding, Since, export, verify,
};
use crate::store::Store;
use crate::store::tests::{denied, request, test_store};

/// A JWT as kube-apiserver issues them (header `{"alg":"RS256","kid":"k"}`).
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLWJ5dGVz";
const KUBECONFIG: &str = include_str!("../audit/fixtures/kubeconfig.yaml");

/// The event's `seq` and why, of a report's finding.
fn event_break(finding: Option<Finding>) -> (i64, Break) {
    match finding {
        Some(Finding::Event { seq, reason, .. }) => (seq, reason),
        other => panic!("expected a broken event, got {other:?}"),
    }
}

async fn seeded(events: usize) -> crate::store::tests::TestStore {
    let t = test_store().await;
    for n in 1..=events {
        let details = Details::AuthenticationFailed(AuthenticationFailures::Single {
            code: "expired".into(),
            message: format!("attempt {n}: token is expired"),
        });
        t.store
            .append_audit(None, &Actor::Anonymous, &details)
            .await
            .unwrap();
    }
    t
}

/// What someone with write access to the database file can do: drop the append-only guards.
async fn drop_guards(store: &Store) {
    sqlx::raw_sql("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;")
        .execute(store.pool())
        .await
        .unwrap();
}

async fn tamper(store: &Store, sql: &'static str) {
    drop_guards(store).await;
    sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
}

#[tokio::test]
async fn an_untouched_chain_verifies_and_reports_its_head() {
    let t = seeded(5).await;
    let report = verify(&t.store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 5);
    let last = t.store.audit_events(4, 1).await.unwrap();
    assert_eq!(report.head, Some((5, last[0].hash.clone())));
    assert_eq!(
        report.to_string(),
        format!(
            "audit chain intact: 5 events, head 5 {}; no anchors checked (the chain alone \
             cannot show a rewrite: give the anchors and key)",
            last[0].hash
        )
    );
}

#[tokio::test]
async fn an_empty_log_is_intact() {
    let t = test_store().await;
    let report = verify(&t.store, Vec::new()).await.unwrap();
    assert_eq!(
        report,
        crate::audit::VerifyReport {
            events: 0,
            head: None,
            anchors: 0,
            anchored: None,
            broken: None
        }
    );
    assert_eq!(report.to_string(), "audit chain intact: no events yet");
}

#[rstest]
#[case::modified_details(
    "UPDATE audit_events SET details = replace(details, 'attempt 3', 'attempt 9') WHERE seq = 3",
    3,
    Break::Modified
)]
#[case::modified_actor(
    r#"UPDATE audit_events SET actor = '{"type":"service","component":"x"}' WHERE seq = 2"#,
    2,
    Break::Modified
)]
#[case::modified_time(
    "UPDATE audit_events SET time = time + 1 WHERE seq = 4",
    4,
    Break::Modified
)]
#[case::modified_request_id(
    "UPDATE audit_events SET request_id = 'r9' WHERE seq = 1",
    1,
    Break::Modified
)]
#[case::deleted_middle("DELETE FROM audit_events WHERE seq = 3", 3, Break::Missing { found: 4 })]
#[case::deleted_first("DELETE FROM audit_events WHERE seq = 1", 1, Break::Missing { found: 2 })]
#[case::deleted_and_renumbered(
    "DELETE FROM audit_events WHERE seq = 3; UPDATE audit_events SET seq = seq - 1 WHERE seq > 3",
    3,
    Break::NotLinked
)]
#[case::reordered(
    "UPDATE audit_events SET seq = -2 WHERE seq = 2;
     UPDATE audit_events SET seq = 2 WHERE seq = 3;
     UPDATE audit_events SET seq = 3 WHERE seq = -2",
    2,
    Break::NotLinked
)]
#[tokio::test]
async fn tampering_is_named_at_its_first_event(
    #[case] sql: &'static str,
    #[case] seq: i64,
    #[case] reason: Break,
) {
    let t = seeded(5).await;
    tamper(&t.store, sql).await;
    let report = verify(&t.store, Vec::new()).await.unwrap();
    assert_eq!(
        event_break(report.broken.clone()),
        (seq, reason),
        "{report:?}"
    );
    assert_eq!(report.head, None);
    assert!(
        report
            .to_string()
            .starts_with(&format!("audit chain broken: event {seq}")),
        "{report}"
    );
}

#[rstest]
#[case::details_not_json(
    "UPDATE audit_events SET details = 'not json' WHERE seq = 5",
    5,
    "details are not JSON"
)]
#[case::kind_swapped(
    "UPDATE audit_events SET kind = 'verdict' WHERE seq = 2",
    2,
    "kind `verdict` does not match"
)]
#[case::unknown_details(
    r#"UPDATE audit_events SET details = '{"kind":"free_form","token":"x"}' WHERE seq = 3"#,
    3,
    "details are not a known event"
)]
#[tokio::test]
async fn unreadable_events_are_named(
    #[case] sql: &'static str,
    #[case] seq: i64,
    #[case] needle: &str,
) {
    let t = seeded(5).await;
    tamper(&t.store, sql).await;
    let report = verify(&t.store, Vec::new()).await.unwrap();
    let (at, reason) = event_break(report.broken.clone());
    assert_eq!(at, seq);
    let Break::Unreadable { detail } = &reason else {
        panic!("expected unreadable, got {reason}")
    };
    assert!(detail.contains(needle), "{detail}");
    assert!(
        report
            .to_string()
            .contains(&format!("event {seq}: is unreadable")),
        "{report}"
    );
}

#[tokio::test]
async fn a_rehashed_forgery_still_breaks_the_next_link() {
    let t = seeded(5).await;
    let mut forged = t.store.audit_events(2, 1).await.unwrap().remove(0);
    forged.details["message"] = "nothing happened".into();
    let details = crate::audit::canonical::to_canonical_json(&forged.details).unwrap();
    let actor = crate::audit::canonical::to_canonical_json(&forged.actor).unwrap();
    let hash = chain::canonical_event_hash(
        &forged.prev_hash,
        chain::Canonical {
            seq: forged.seq,
            time: forged.time,
            kind: &forged.kind,
            request_id: forged.request_id.as_deref(),
            actor: &actor,
            details: &details,
        },
    );
    drop_guards(&t.store).await;
    sqlx::query("UPDATE audit_events SET details = ?, hash = ? WHERE seq = 3")
        .bind(details)
        .bind(hash)
        .execute(t.store.pool())
        .await
        .unwrap();
    let report = verify(&t.store, Vec::new()).await.unwrap();
    assert_eq!(event_break(report.broken), (4, Break::NotLinked));
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_events() {
    let t = seeded(2).await;
    for sql in [
        "UPDATE audit_events SET kind = 'x' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
    ] {
        let error = sqlx::query(sql).execute(t.store.pool()).await.unwrap_err();
        assert!(error.to_string().contains("append-only"), "{error}");
    }
    assert!(verify(&t.store, Vec::new()).await.unwrap().is_intact());
}

#[tokio::test]
async fn concurrent_appends_form_one_unbroken_chain() {
    let t = test_store().await;
    let tasks: Vec<_> = (0..24)
        .map(|n| {
            let store = t.store.clone();
            tokio::spawn(async move {
                let details = Details::KubeconfigIssued {
                    expires_at: jiff::Timestamp::from_second(1_900_000_000 + n).unwrap(),
                };
                store
                    .append_audit(Some("r1"), &Actor::service("workflow"), &details)
                    .await
                    .unwrap()
                    .seq
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>());
    let report = verify(&t.store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 24);
}

#[tokio::test]
async fn tokens_and_kubeconfigs_never_reach_the_log() {
    let t = test_store().await;
    let mut leaky = request("r1");
    leaky.reason = format!("my token is {TOKEN}, please help");
    leaky.context.insert("kubeconfig".into(), KUBECONFIG.into());
    leaky
        .context
        .insert("header".into(), format!("Bearer {TOKEN}"));
    denied(&t.store, &leaky, "alice").await;
    t.store
        .append_audit(
            Some("r1"),
            &Actor::service("workflow"),
            &Details::StateChanged {
                from: "provisioning".into(),
                to: "failed".into(),
                note: Some(format!("TokenRequest answered {TOKEN}")),
            },
        )
        .await
        .unwrap();

    let mut export_lines = Vec::new();
    let count = export(&t.store, Since::Seq(1), &mut export_lines)
        .await
        .unwrap();
    assert_eq!(
        count, 4,
        "request_received, verdict, state_changed, state_changed"
    );
    let exported = String::from_utf8(export_lines).unwrap();
    assert!(!exported.contains(TOKEN), "{exported}");
    assert!(
        !exported.contains("certificate-authority-data"),
        "{exported}"
    );
    assert!(!exported.contains("c2lnbmF0dXJlLWJ5dGVz"), "{exported}");
    assert!(exported.contains(REDACTED_TOKEN));
    assert!(exported.contains(REDACTED_KUBECONFIG));
    assert!(
        exported.contains("please help"),
        "the rest of the text stays"
    );
    assert!(verify(&t.store, Vec::new()).await.unwrap().is_intact());
}

#[tokio::test]
async fn export_writes_one_json_event_per_line_in_order() {
    let t = seeded(3).await;
    let mut out = Vec::new();
    assert_eq!(export(&t.store, Since::Seq(1), &mut out).await.unwrap(), 3);
    let events: Vec<AuditEvent> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(events[1].prev_hash, events[0].hash);
    assert_eq!(events[0].prev_hash, chain::GENESIS_HASH);
    assert_eq!(events[2].details["message"], "attempt 3: token is expired");
}
