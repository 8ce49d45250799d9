use rstest::rstest;
use serde_json::Value;

use super::chain::{REDACTED_KUBECONFIG, redact_text};
use super::*;

/// A JWT as kube-apiserver issues them (header `{"alg":"RS256","kid":"k"}`).
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.c2lnbmF0dXJlLWJ5dGVz";
const KUBECONFIG: &str = include_str!("fixtures/kubeconfig.yaml");

/// The oracle canonical JSON is checked against: written from a `serde_json::Value`, keys
/// sorted, scalars as `serde_json` writes them (how the log wrote it before the typed writer).
fn canonical_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    String::from_utf8(out).unwrap()
}

fn write_scalar<T: serde::Serialize + ?Sized>(scalar: &T, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, scalar).unwrap();
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // A map without serde_json's `preserve_order` is already in key order.
            if !entries.is_sorted_by(|a, b| a.0 <= b.0) {
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            }
            out.push(b'{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_scalar(key, out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

#[test]
fn canonical_json_sorts_keys_at_every_level() {
    let value = serde_json::json!({"b": 1, "a": {"z": [true, null], "y": "é\n"}});
    let expected = r#"{"a":{"y":"é\n","z":[true,null]},"b":1}"#;
    assert_eq!(
        canonical::to_canonical_json_exact(&value).unwrap(),
        expected
    );
    assert_eq!(canonical_json(&value), expected);
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
        canonical::to_canonical_json_exact(&value).unwrap(),
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
    let actor_json = canonical::to_canonical_json_exact(&actor).unwrap();
    let details_json = canonical::to_canonical_json_exact(&details).unwrap();
    let hashed = chain::Canonical {
        seq: 42,
        time,
        kind: "state_changed",
        request_id,
        actor: &actor_json,
        details: &details_json,
    };
    assert_eq!(chain::canonical_event_hash(prev_hash, hashed), expected);
}
