use rstest::rstest;

use super::chain::{REDACTED_KUBECONFIG, REDACTED_TOKEN, canonical_json, redact_text};
use super::*;
use crate::store::tests::{denied, request, test_store};

/// A JWT as kube-apiserver issues them (header `{"alg":"RS256","kid":"k"}`).
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLWJ5dGVz";
const KUBECONFIG: &str = include_str!("fixtures/kubeconfig.yaml");

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
async fn drop_guards(store: &crate::store::SqliteStore) {
    sqlx::raw_sql("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;")
        .execute(store.pool())
        .await
        .unwrap();
}

async fn tamper(store: &crate::store::SqliteStore, sql: &'static str) {
    drop_guards(store).await;
    sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
}

#[tokio::test]
async fn an_untouched_chain_verifies_and_reports_its_head() {
    let t = seeded(5).await;
    let report = verify(&t.store).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 5);
    let last = t.store.audit_events(4, 1).await.unwrap();
    assert_eq!(report.head.as_deref(), Some(last[0].hash.as_str()));
    assert_eq!(
        report.to_string(),
        format!("audit chain intact: 5 events, head {}", last[0].hash)
    );
}

#[tokio::test]
async fn an_empty_log_is_intact() {
    let t = test_store().await;
    let report = verify(&t.store).await.unwrap();
    assert_eq!(
        report,
        VerifyReport {
            events: 0,
            head: None,
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
    let report = verify(&t.store).await.unwrap();
    assert_eq!(
        report.broken,
        Some(BrokenLink { seq, reason }),
        "{report:?}"
    );
    assert_eq!(report.head, None);
    assert!(
        report
            .to_string()
            .starts_with(&format!("audit chain broken: event {seq}: ")),
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
    let broken = verify(&t.store).await.unwrap().broken.unwrap();
    assert_eq!(broken.seq, seq);
    let Break::Unreadable { detail } = &broken.reason else {
        panic!("expected unreadable, got {broken}")
    };
    assert!(detail.contains(needle), "{detail}");
    assert!(
        broken
            .to_string()
            .starts_with(&format!("event {seq}: is unreadable"))
    );
}

#[tokio::test]
async fn a_rehashed_forgery_still_breaks_the_next_link() {
    let t = seeded(5).await;
    let mut forged = t.store.audit_events(2, 1).await.unwrap().remove(0);
    forged.details["message"] = "nothing happened".into();
    let hash = chain::event_hash(
        &forged.prev_hash,
        chain::Hashed {
            seq: forged.seq,
            time: forged.time,
            kind: &forged.kind,
            request_id: forged.request_id.as_deref(),
            actor: &forged.actor,
            details: &forged.details,
        },
    );
    drop_guards(&t.store).await;
    sqlx::query("UPDATE audit_events SET details = ?, hash = ? WHERE seq = 3")
        .bind(canonical_json(&forged.details))
        .bind(hash)
        .execute(t.store.pool())
        .await
        .unwrap();
    let broken = verify(&t.store).await.unwrap().broken.unwrap();
    assert_eq!(
        broken,
        BrokenLink {
            seq: 4,
            reason: Break::NotLinked
        }
    );
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
    assert!(verify(&t.store).await.unwrap().is_intact());
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
    let report = verify(&t.store).await.unwrap();
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
    let count = export(&t.store, &mut export_lines).await.unwrap();
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
    assert!(verify(&t.store).await.unwrap().is_intact());
}

#[tokio::test]
async fn export_writes_one_json_event_per_line_in_order() {
    let t = seeded(3).await;
    let mut out = Vec::new();
    assert_eq!(export(&t.store, &mut out).await.unwrap(), 3);
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

#[test]
fn canonical_json_sorts_keys_at_every_level() {
    let value = serde_json::json!({"b": 1, "a": {"z": [true, null], "y": "é\n"}});
    assert_eq!(
        canonical_json(&value),
        r#"{"a":{"y":"é\n","z":[true,null]},"b":1}"#
    );
}

/// The stored and hashed form of existing logs: strings escaped, numbers written as serde_json
/// writes them, keys (escaped too) in byte order, however the map was built.
#[test]
fn canonical_json_writes_scalars_as_serde_json_does() {
    let mut map = serde_json::Map::new();
    for key in ["z\"q", "Z", "a\u{1}", "é"] {
        map.insert(key.to_owned(), serde_json::json!(key.len()));
    }
    let value = serde_json::json!({
        "numbers": [0, -7, 18446744073709551615u64, 1.5, -0.25, 1e300],
        "text": "tab\t \"quote\" back\\slash \u{1f} ✓",
        "map": map,
        "empty": [{}, []],
    });
    assert_eq!(
        canonical_json(&value),
        r#"{"empty":[{},[]],"map":{"Z":1,"a\u0001":2,"z\"q":3,"é":2},"numbers":[0,-7,18446744073709551615,1.5,-0.25,1e+300],"text":"tab\t \"quote\" back\\slash \u001f ✓"}"#
    );
    let back: serde_json::Value = serde_json::from_str(&canonical_json(&value)).expect("json");
    assert_eq!(back, value);
}

/// The canonical JSON the log wrote before it was written straight from the typed value:
/// through a `serde_json::Value`, every string value redacted.
fn through_a_value<T: serde::Serialize>(value: &T) -> String {
    fn redact(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(text) => {
                if let Some(clean) = redact_text(text) {
                    *text = clean;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
            serde_json::Value::Object(map) => map.values_mut().for_each(redact),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(value).unwrap();
    redact(&mut value);
    canonical_json(&value)
}

/// Events of every kind, as JSON, with what makes canonical JSON hard: keys out of order at
/// every level, escapes, non-ASCII, every kind of number, `null`s, and secrets to redact.
fn every_kind_of_event() -> Vec<serde_json::Value> {
    let verdict = serde_json::json!({
        "module": "groups \"quoted\"", "digest": "9349df4c", "duration_us": 18446744073709551615u64,
        "decision": {"decision": "deny", "reason": format!("token {TOKEN} ✓\u{1}")},
        "error": null,
    });
    let failed = serde_json::json!({
        "module": "window", "digest": "00", "duration_us": 0, "decision": null, "error": "trap",
    });
    vec![
        serde_json::json!({
            "kind": "request_received", "cluster": "prod", "namespaces": ["payments", "é"],
            "access": {"rules": [{"verbs": ["get"], "api_groups": [""], "resources": ["pods"]}]},
            "cluster_rules": [], "duration_seconds": 1800, "reason": KUBECONFIG,
            "context": {"z": "1", "a": format!("Bearer {TOKEN}"), "ticket": "INC-1"},
            "identity": {
                "subject": "alice", "issuer": "https://login.example.com", "groups": ["corp:sre"],
                "claims": {
                    "zz": [1, -7, 1.5, -0.25, 1e300, 0.1, null, true],
                    "nested": {"b": {"d": TOKEN, "c": []}, "a": {}},
                    "tab\t\"key": "a\u{1f}b", "Z": 18446744073709551615u64, "é": false,
                },
            },
            "requested_at": "2026-12-06T10:00:00.123Z",
        }),
        serde_json::json!({"kind": "request_received", "cluster": "c", "namespaces": [],
            "access": {"role": "edit"}, "cluster_rules": [], "duration_seconds": 1,
            "reason": "", "context": {}}),
        serde_json::json!({"kind": "authentication_failed", "code": "expired", "message": TOKEN}),
        serde_json::json!({"kind": "authentication_failed", "source": "2001:db8:1:2::/64",
            "count": 500, "codes": {"expired": 100, "bad_signature": 400},
            "first": "2026-12-06T10:00:00.123Z", "last": "2026-12-06T10:00:59.9Z"}),
        serde_json::json!({"kind": "verdict", "modules": [verdict.clone(), failed.clone()],
            "decision": {"decision": "allow", "grant": {"ttl_seconds": 1800,
                "namespaces": [{"namespace": "payments", "role": "edit"}]}}}),
        serde_json::json!({"kind": "state_changed", "from": "received", "to": "denied", "note": null}),
        serde_json::json!({"kind": "state_changed", "from": "a", "to": "b", "note": KUBECONFIG}),
        serde_json::json!({"kind": "object_created",
            "object": {"kind": "RoleBinding", "namespace": "payments", "name": "wicket-1"}}),
        serde_json::json!({"kind": "object_deleted",
            "object": {"kind": "ClusterRole", "namespace": null, "name": "wicket-1"}}),
        serde_json::json!({"kind": "kubeconfig_issued", "expires_at": "2026-12-06T10:30:00Z"}),
        serde_json::json!({"kind": "policies_reloaded", "trigger": "api", "generation": 7,
            "changed": []}),
        serde_json::json!({"kind": "policy_rejected", "trigger": "watch", "cluster": null,
            "entry": "groups", "file": "/p/g.wasm", "digest": null, "reason": "bad\nmodule"}),
        serde_json::json!({"kind": "shadow_difference", "cluster": "prod",
            "active": verdict, "candidate": failed}),
        serde_json::json!({"kind": "policy_promoted", "cluster": "prod", "entry": "groups",
            "candidate": "g2.wasm"}),
        serde_json::json!({"kind": "kill_switch",
            "scope": {"subject": {"issuer": "https://idp", "sub": "mallory"}},
            "revoked": 2, "ended": 1, "failed": 0, "in_flight": 0}),
        serde_json::json!({"kind": "kill_switch", "scope": {"all": true},
            "revoked": 0, "ended": 0, "failed": 1, "in_flight": 1}),
    ]
}

#[test]
fn canonical_json_written_straight_is_what_the_value_gave() {
    let events = every_kind_of_event();
    let mut kinds = std::collections::BTreeSet::new();
    for json in events {
        let details: Details =
            serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{e}: {json}"));
        kinds.insert(details.kind());
        let straight = canonical::to_canonical_json(&details).unwrap();
        assert_eq!(straight, through_a_value(&details));
        assert!(!straight.contains(TOKEN) && !straight.contains("client-key-data"));
        // A `serde_json::Value` itself (claims, for one) is written the same way too.
        assert_eq!(
            canonical::to_canonical_json(&json).unwrap(),
            through_a_value(&json)
        );
    }
    assert_eq!(kinds.len(), 12, "every kind of event: {kinds:?}");
    for actor in [
        Actor::user(
            &serde_json::from_str(include_str!("../store/fixtures/identity.json")).unwrap(),
        ),
        Actor::service("workflow"),
        Actor::Anonymous,
    ] {
        assert_eq!(
            canonical::to_canonical_json(&actor).unwrap(),
            through_a_value(&actor)
        );
    }
}

/// `authentication_failed` reads in its two shapes (one per failure, as older logs hold it,
/// and counted per source and window), each written back as it was, and in no mixture.
#[test]
fn authentication_failures_read_in_the_old_and_the_counted_shape() {
    let old = serde_json::json!({"kind": "authentication_failed", "code": "expired",
        "message": "token is expired"});
    let counted = serde_json::json!({"kind": "authentication_failed", "source": "192.0.2.7",
        "count": 3, "codes": {"malformed": 3}, "first": "2026-12-06T10:00:00Z",
        "last": "2026-12-06T10:00:01Z"});
    for json in [&old, &counted] {
        let details: Details = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(details.kind(), "authentication_failed");
        assert_eq!(&serde_json::to_value(&details).unwrap(), json);
    }
    let mixed = serde_json::json!({"kind": "authentication_failed", "code": "expired",
        "message": "m", "count": 3});
    assert!(serde_json::from_value::<Details>(mixed).is_err());
}

/// Shapes no event has today but a field added tomorrow could: enum variants of every
/// form, tuples, bytes, `char`s, unit values, maps with number keys and a key given twice.
#[test]
fn canonical_json_written_straight_covers_every_serde_shape() {
    #[derive(serde::Serialize)]
    enum Shape {
        Unit,
        Newtype(String),
        Tuple(u8, i64),
        Struct { b: f32, a: Option<char> },
    }
    #[derive(serde::Serialize)]
    struct Unit;
    #[derive(serde::Serialize)]
    struct Every {
        shapes: Vec<Shape>,
        tuple: (u16, &'static str),
        #[serde(with = "serde_bytes_as_seq")]
        bytes: Vec<u8>,
        unit: (),
        unit_struct: Unit,
        numbers: std::collections::BTreeMap<i32, f64>,
        #[serde(flatten)]
        flat: std::collections::BTreeMap<String, String>,
        zed: i128,
    }
    mod serde_bytes_as_seq {
        pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(bytes)
        }
    }
    let every = Every {
        shapes: vec![
            Shape::Unit,
            Shape::Newtype(format!("x {TOKEN}")),
            Shape::Tuple(7, -9),
            Shape::Struct {
                b: 0.1,
                a: Some('é'),
            },
            Shape::Struct {
                b: f32::NAN,
                a: None,
            },
        ],
        tuple: (65535, "t"),
        bytes: vec![0, 255],
        unit: (),
        unit_struct: Unit,
        numbers: [(-1, 0.5), (10, f64::INFINITY), (2, -0.0)].into(),
        flat: [
            ("zed".to_owned(), "given twice".to_owned()),
            ("a".to_owned(), "1".to_owned()),
        ]
        .into(),
        zed: -170141183460469231731687303715884105728 / (1 << 80),
    };
    let straight = canonical::to_canonical_json(&every).unwrap();
    assert_eq!(straight, through_a_value(&every));
    // The flattened map's `zed` comes before the field's: the field's value wins, once.
    assert_eq!(straight.matches(r#""zed""#).count(), 1, "{straight}");
    assert!(
        straight.ends_with(r#""zed":-140737488355328}"#),
        "{straight}"
    );
}

#[rstest]
#[case::plain("INC-123: payments are failing", None)]
#[case::jwt_in_text(
    "use eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.abc now",
    Some("use [redacted token] now")
)]
#[case::unsigned_jwt("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", Some("[redacted token]"))]
#[case::two_parts_only("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0", None)]
#[case::short_word("eyJ is how JSON starts in base64", None)]
#[case::shortest_marker("kind: Config", Some(REDACTED_KUBECONFIG))]
#[case::shortest_jwt("eyJhbGciOi.ab.", Some("[redacted token]"))]
#[case::shorter_than_anything_redacted("eyJhbGciOi.", None)]
#[case::kubeconfig_yaml("apiVersion: v1\nkind: Config\nusers: []", Some(REDACTED_KUBECONFIG))]
#[case::kubeconfig_json(r#"{"kind":"Config","apiVersion":"v1"}"#, Some(REDACTED_KUBECONFIG))]
fn redaction(#[case] text: &str, #[case] expected: Option<&str>) {
    assert_eq!(redact_text(text).as_deref(), expected);
}

/// The hash of an event is `sha256(prev_hash || canonical JSON of the whole event)`, which logs
/// already written were hashed with; the piecewise form must give exactly the same.
#[rstest]
#[case::with_a_request("abc123", Some("r1"), serde_json::json!({"reason": "INC-1 \"quoted\"\n", "n": 3}))]
#[case::without_a_request(chain::GENESIS_HASH, None, serde_json::json!({"z": [1, null, "é"], "a": {"y": true}}))]
fn piecewise_hash_equals_the_hash_of_the_whole_canonical_event(
    #[case] prev_hash: &str,
    #[case] request_id: Option<&str>,
    #[case] details: serde_json::Value,
) {
    use sha2::Digest as _;
    let actor = serde_json::json!({"kind": "user", "subject": "alice\u{1F600}"});
    let time: jiff::Timestamp = "2026-11-21T10:00:00.123Z".parse().unwrap();
    let whole = serde_json::json!({
        "seq": 42,
        "time": time.to_string(),
        "kind": "state_changed",
        "request_id": request_id,
        "actor": actor,
        "details": details,
    });
    let mut hasher = sha2::Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical_json(&whole).as_bytes());
    let expected = hex::encode(hasher.finalize());
    let hashed = chain::Hashed {
        seq: 42,
        time,
        kind: "state_changed",
        request_id,
        actor: &actor,
        details: &details,
    };
    assert_eq!(chain::event_hash(prev_hash, hashed), expected);
}
