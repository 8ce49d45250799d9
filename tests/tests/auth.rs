//! Authentication and input validation through HTTP: every bad token is a 401 that runs no
//! policy and writes nothing but its count in an audit event; every bad body is a 4xx with a
//! clear message and writes nothing. Identities are bound to their issuer: groups are qualified by
//! the issuer's alias (`test:` for the HS256 issuer, `corp:` for the RS256 one), so another
//! issuer's token naming an admin group or a policy's group gets neither; and keys of a JWKS
//! URL that cannot be refreshed stop being trusted.

use std::time::Duration;

use rstest::rstest;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use wicket::config::Config;
use wicket::store::{SqliteStore, Store};
use wicket_tests::tokens::{RSA_A, RSA_B, RSA_ISSUER, SECRET, claims, hs256, rs256, token};
use wicket_tests::{Env, wait_for};

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
#[case::valid_for_a_century(hs256(&with(claims("alice", &["sre"]), "exp", json!(now() + 100 * 365 * 24 * 3600)), SECRET), "lifetime_too_long")]
#[case::issued_two_days_ago(hs256(&with(with(claims("alice", &["sre"]), "iat", json!(now() - 48 * 3600)), "exp", json!(now() + 600)), SECRET), "lifetime_too_long")]
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
    let store = SqliteStore::open_existing(&env.data().join("wicket.db"))
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

/// A token of the RS256 issuer (alias `corp`) whose groups claim says `groups`.
fn corp_token(sub: &str, groups: &[&str]) -> String {
    rs256(
        &with(claims(sub, groups), "iss", json!(RSA_ISSUER)),
        RSA_A,
        "rsa-a",
    )
}

#[tokio::test]
async fn another_issuers_token_naming_the_admin_group_is_no_admin() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let created = wicket
        .call(
            "POST",
            "/v1/requests",
            Some(&token("alice", &["sre"])),
            Some(EDIT_PAYMENTS),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap();
    let granted = env.labelled_objects().await;
    assert!(!granted.is_empty());
    // The admin group is `test:wicket-admins`. Tokens of the `corp` issuer claiming its name,
    // bare or already qualified, and one claiming the auditor group, and `corp`'s own `alice`
    // (the requester's `sub`, another issuer): none sees, lists or revokes alice's request.
    let attackers = [
        corp_token("mallory", &["wicket-admins"]),
        corp_token("mallory", &["test:wicket-admins"]),
        corp_token("mallory", &["auditors", "test:auditors"]),
        corp_token("alice", &["sre"]),
    ];
    for attacker in &attackers {
        let listed = wicket
            .call("GET", "/v1/requests", Some(attacker), None)
            .await;
        assert_eq!(listed.status, 200, "{}", listed.text);
        assert_eq!(listed.json["items"], json!([]), "{}", listed.text);
        let shown = wicket
            .call("GET", &format!("/v1/requests/{id}"), Some(attacker), None)
            .await;
        assert_eq!(shown.status, 404, "{}", shown.text);
        let revoked = wicket
            .call(
                "POST",
                &format!("/v1/requests/{id}/revoke"),
                Some(attacker),
                None,
            )
            .await;
        assert_eq!(revoked.status, 404, "{}", revoked.text);
        let audit = wicket.call("GET", "/v1/audit", Some(attacker), None).await;
        assert_eq!(audit.status, 403, "{}", audit.text);
        let reload = wicket
            .call("POST", "/v1/policies/reload", Some(attacker), None)
            .await;
        assert_eq!(reload.status, 403, "{}", reload.text);
    }
    assert_eq!(wicket.state(id).await, "active");
    assert_eq!(env.labelled_objects().await, granted);
    // The `test` issuer's admin and auditor are what their groups say.
    let auditor = token("audrey", &["auditors"]);
    let audit = wicket.call("GET", "/v1/audit", Some(&auditor), None).await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    let admin = token("root", &["wicket-admins"]);
    let listed = wicket.call("GET", "/v1/requests", Some(&admin), None).await;
    assert_eq!(listed.json["items"][0]["id"], id, "{}", listed.text);
    let revoked = wicket
        .call(
            "POST",
            &format!("/v1/requests/{id}/revoke"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(wicket.state(id).await, "revoked");
    wicket.stop().await;
}

#[tokio::test]
async fn policies_see_groups_qualified_by_the_tokens_issuer() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    // `group-access` allows `test:sre`: the `test` issuer's sre ...
    let allowed = wicket
        .call(
            "POST",
            "/v1/requests",
            Some(&token("alice", &["sre"])),
            Some(EDIT_PAYMENTS),
        )
        .await;
    assert_eq!(allowed.status, 201, "{}", allowed.text);
    // ... and no `corp` token, whatever its groups claim says.
    for claimed in [
        &["sre"][..],
        &["test:sre"],
        &["sre", "test:sre", "corp:sre"],
    ] {
        let denied = wicket
            .call(
                "POST",
                "/v1/requests",
                Some(&corp_token("mallory", claimed)),
                Some(EDIT_PAYMENTS),
            )
            .await;
        assert_eq!(denied.status, 403, "{claimed:?}: {}", denied.text);
        assert_eq!(denied.json["error"]["code"], "denied", "{}", denied.text);
        let reason = denied.json["error"]["message"].as_str().unwrap();
        assert!(
            reason.contains("module `groups`: none of your groups is allowed any access"),
            "{reason}"
        );
    }
    wicket.stop().await;
}

#[rstest]
#[case::unknown_alias(
    r#"admin_groups = ["ci:wicket-admins"]"#,
    "`admin_groups` entry `ci:wicket-admins` names issuer alias `ci`, which no `[[issuers]]` entry has (configured: `corp`, `test`)"
)]
#[case::bare_group_name(
    r#"admin_groups = ["wicket-admins"]"#,
    "`admin_groups` entry `wicket-admins` must be `<alias>:<group>`"
)]
#[case::issuer_url_for_an_alias(
    r#"admin_groups = ["wicket-test:wicket-admins"]"#,
    "`admin_groups` entry `wicket-test:wicket-admins` names issuer alias `wicket-test`"
)]
#[tokio::test]
async fn admin_groups_must_name_a_configured_issuer_alias(
    #[case] line: &str,
    #[case] message: &str,
) {
    let env = Env::start("1h").await;
    let text = std::fs::read_to_string(env.config_path()).unwrap();
    let configured = r#"admin_groups = ["test:wicket-admins"]"#;
    assert!(text.contains(configured));
    let path = env.dir.path().join("changed.toml");
    std::fs::write(&path, text.replacen(configured, line, 1)).unwrap();
    let error = Config::load(&path).unwrap_err().to_string();
    assert!(error.contains(message), "{error}");
}

/// A JWKS endpoint on 127.0.0.1 serving `fixtures/jwks-a.json` until [`Jwks::go_away`].
struct Jwks {
    url: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Jwks {
    async fn start() -> Self {
        const DOCUMENT: &str = include_str!("../fixtures/jwks-a.json");
        let app = axum::Router::new().route("/jwks", axum::routing::get(|| async { DOCUMENT }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self { url, stop, task }
    }

    /// Stops serving: the port is closed and open connections end.
    async fn go_away(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the JWKS server stops")
            .unwrap();
    }
}

#[tokio::test]
async fn keys_of_an_unreachable_jwks_stop_being_trusted_after_their_max_age() {
    let jwks = Jwks::start().await;
    let issuer = format!(
        r#"[[issuers]]
alias = "remote"
issuer = "https://remote.example.com"
audiences = ["wicket"]
algorithms = ["RS256"]
jwks_url = "{}"
jwks_refresh = "200ms"
jwks_max_age = "1s"
leeway = "0s"

[[clusters]]
"#,
        jwks.url
    );
    let config = wicket_tests::env::CONFIG.replacen("[[clusters]]\n", &issuer, 1);
    let env = Env::start_with(&config, "1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let remote = |sub: &str| {
        rs256(
            &with(
                claims(sub, &["sre"]),
                "iss",
                json!("https://remote.example.com"),
            ),
            RSA_A,
            "rsa-a",
        )
    };
    let alice = remote("alice");
    let answer = wicket.call("GET", "/v1/requests", Some(&alice), None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    // The identity provider goes away (or is kept away): the keys Wicket holds go on working
    // for a while, then neither the remembered token nor a new one is accepted.
    jwks.go_away().await;
    let (wicket, alice) = (&wicket, &alice);
    wait_for(
        "the unrefreshed keys to stop being trusted",
        Duration::from_secs(60),
        move || async move {
            wicket
                .call("GET", "/v1/requests", Some(alice), None)
                .await
                .status
                == 401
        },
    )
    .await;
    for token in [alice.clone(), remote("bob")] {
        let answer = wicket.call("GET", "/v1/requests", Some(&token), None).await;
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert_eq!(
            answer.json["error"]["code"], "keys_too_old",
            "{}",
            answer.text
        );
    }
    // The other issuers are not affected.
    let answer = wicket
        .call("GET", "/v1/requests", Some(&token("alice", &["sre"])), None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
}
