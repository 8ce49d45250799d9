//! Authentication and input validation through HTTP: every bad token is a 401 that runs no
//! policy and writes nothing but its count in an audit event; every bad body is a 4xx with a
//! clear message and writes nothing.

use rstest::rstest;
use serde_json::{Value, json};
use wicket::store::Store;
use wicket_tests::Env;
use wicket_tests::tokens::{RSA_A, RSA_B, RSA_ISSUER, SECRET, claims, hs256, rs256, token};

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");
/// The public key of `rsa-a`, as an attacker would use it as an HMAC secret.
const RSA_A_PUBLIC: &str = include_str!("../fixtures/test-only-rsa-a.pub.pem");

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn alg_none() -> String {
    format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims("alice", &["sre"]).to_string().as_bytes())
    )
}

fn tampered() -> String {
    let good = token("alice", &["developers"]);
    let parts: Vec<&str> = good.split('.').collect();
    let payload = b64(claims("alice", &["sre"]).to_string().as_bytes());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

fn rsa_claims() -> Value {
    with(claims("alice", &["sre"]), "iss", json!(RSA_ISSUER))
}

#[rstest]
#[case::alg_none(alg_none(), "algorithm_none")]
#[case::hs_rs_confusion(hs256(&rsa_claims(), RSA_A_PUBLIC), "algorithm_not_allowed")]
#[case::expired(hs256(&with(claims("alice", &["sre"]), "exp", json!(now() - 60)), SECRET), "expired")]
#[case::not_yet_valid(hs256(&with(claims("alice", &["sre"]), "nbf", json!(now() + 600)), SECRET), "not_yet_valid")]
#[case::wrong_issuer(hs256(&with(claims("alice", &["sre"]), "iss", json!("https://evil.example.com")), SECRET), "unknown_issuer")]
#[case::wrong_audience(hs256(&with(claims("alice", &["sre"]), "aud", json!("someone-else")), SECRET), "wrong_audience")]
#[case::unknown_kid(rs256(&rsa_claims(), RSA_B, "rsa-z"), "unknown_kid")]
#[case::wrong_key(rs256(&rsa_claims(), RSA_B, "rsa-a"), "bad_signature")]
#[case::tampered_payload(tampered(), "bad_signature")]
#[case::wrong_secret(hs256(&claims("alice", &["sre"]), "another-secret-of-at-least-32-bytes!!"), "bad_signature")]
#[case::garbage("not.a.token".to_owned(), "malformed")]
#[tokio::test]
async fn bad_tokens_are_401_audited_and_run_no_policy(#[case] bad: String, #[case] code: &str) {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let answer = wicket
        .call("POST", "/v1/requests", Some(&bad), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_eq!(answer.json["error"]["code"], code, "{}", answer.text);
    let store = wicket.service.workflow().store();
    assert_eq!(
        store.audit_events(0, 100).await.unwrap(),
        [],
        "no request stored, no policy run; the failure is being counted"
    );
    wicket.stop().await;
    // Stopping writes the count.
    let store = Store::open_existing(&env.data().join("wicket.db"))
        .await
        .unwrap();
    let events = store.audit_events(0, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["authentication_failed"]);
    assert_eq!(events[0].details["count"], 1);
    assert_eq!(events[0].details["codes"][code], 1);
    assert!(
        !events[0].details.to_string().contains(&bad),
        "the token is not audited"
    );
}

#[tokio::test]
async fn a_good_rsa_token_is_accepted() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let answer = wicket
        .call(
            "GET",
            "/v1/requests",
            Some(&rs256(&rsa_claims(), RSA_A, "rsa-a")),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    wicket.stop().await;
}

#[rstest]
#[case::malformed_json("{\"cluster\": \"dev\",", 400, "invalid JSON body")]
#[case::not_an_object("[1, 2]", 400, "invalid JSON body")]
#[case::oversize(&format!(r#"{{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"1h","reason":"{}"}}"#, "x".repeat(20_000)), 413, "larger than 16384 bytes")]
#[case::invalid_namespace(r#"{"cluster":"dev","namespaces":["Payments!"],"role":"edit","duration":"1h","reason":"INC-1"}"#, 400, "namespace `Payments!` is not a DNS-1123 label")]
#[case::invalid_role(r#"{"cluster":"dev","namespaces":["payments"],"role":"../admin","duration":"1h","reason":"INC-1"}"#, 400, "is not a valid role name")]
#[case::zero_duration(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":0,"reason":"INC-1"}"#,
    400,
    "`duration` must be more than zero"
)]
#[case::negative_duration(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":-5,"reason":"INC-1"}"#,
    400,
    "`duration` must be more than zero"
)]
#[case::absurd_duration(r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"1000h","reason":"INC-1"}"#, 400, "longer than the allowed maximum of 43200 s")]
#[case::unknown_field(r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"1h","reason":"INC-1","grant_everything":true}"#, 400, "unknown field `grant_everything`")]
#[case::unknown_cluster(r#"{"cluster":"prod","namespaces":["payments"],"role":"edit","duration":"1h","reason":"INC-1"}"#, 400, "cluster `prod` is not configured")]
#[case::missing_reason(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"1h"}"#,
    400,
    "missing field `reason`"
)]
#[tokio::test]
async fn bad_bodies_are_4xx_with_a_clear_message_and_write_nothing(
    #[case] body: &str,
    #[case] status: u16,
    #[case] message: &str,
) {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let answer = wicket
        .call(
            "POST",
            "/v1/requests",
            Some(&token("alice", &["sre"])),
            Some(body),
        )
        .await;
    assert_eq!(answer.status, status, "{}", answer.text);
    let text = answer.json["error"]["message"].as_str().unwrap_or_default();
    assert!(text.contains(message), "{text}");
    let events = wicket
        .service
        .workflow()
        .store()
        .audit_events(0, 100)
        .await
        .unwrap();
    assert!(events.is_empty(), "nothing written: {events:?}");
    assert!(env.labelled_objects().await.is_empty());
    wicket.stop().await;
}
