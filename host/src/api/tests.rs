//! The API through its router, without a socket: auth, status codes, error shapes, limits,
//! and the OpenAPI document.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rstest::rstest;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::*;
use crate::config::{IssuerConfig, KeySource, Secret};
use crate::domain::{Decision, RequestState};

use crate::store::tests::test_store;
use crate::workflow::tests::{Fixed, Memory, grant, settings};

const ISSUER: &str = "wicket-test";
const SECRET: &str = "test-only-secret-of-at-least-32-bytes!";
const NEW_REQUEST: &str = include_str!("../workflow/fixtures/edit-payments.json");

fn token(sub: &str, groups: &[&str]) -> String {
    let now = jiff::Timestamp::now().as_second();
    let claims =
        json!({"iss": ISSUER, "aud": "wicket", "sub": sub, "exp": now + 600, "groups": groups});
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

struct Api {
    router: Router,
    state: AppState,
    cluster: Arc<Memory>,
    _dir: tempfile::TempDir,
}

async fn api(decision: Decision, limits: Limits) -> Api {
    let test = test_store().await;
    let cluster = Arc::new(Memory::default());
    let workflow = Workflow::new(
        Arc::new(test.store),
        Arc::new(Fixed(decision)),
        cluster.clone(),
        settings(),
    );
    let auth = Authenticator::new(&[IssuerConfig {
        alias: "test".into(),
        issuer: ISSUER.into(),
        audiences: vec!["wicket".into()],
        algorithms: vec![Algorithm::HS256],
        keys: KeySource::Hs256Secret(Secret::new(SECRET)),
        groups_claim: "groups".into(),
        leeway: Duration::from_secs(5),
        max_token_lifetime: Duration::from_secs(3600),
    }])
    .unwrap();
    let state = AppState::new(
        workflow,
        Arc::new(auth),
        vec!["test:admins".into()],
        vec!["test:auditors".into()],
        limits,
    );
    Api {
        router: router(state.clone()),
        state,
        cluster,
        _dir: test.dir,
    }
}

fn allow() -> Decision {
    Decision::Allow { grant: grant() }
}

async fn call(
    api: &Api,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (StatusCode, Value, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

#[tokio::test]
async fn allowed_request_is_201_then_kubeconfig_then_revoke() {
    let api = api(allow(), Limits::default()).await;
    let alice = token("alice", &["sre"]);
    let (status, body, _) = call(
        &api,
        "POST",
        "/v1/requests",
        Some(&alice),
        Some(NEW_REQUEST),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["state"], "active");
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, got, _) = call(
        &api,
        "GET",
        &format!("/v1/requests/{id}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["modules"][0]["module"], "fixed");
    let (status, _, yaml) = call(
        &api,
        "GET",
        &format!("/v1/requests/{id}/kubeconfig"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(yaml.contains("kind: Config"));
    let bob = token("bob", &["sre"]);
    let (status, body, _) = call(
        &api,
        "GET",
        &format!("/v1/requests/{id}/kubeconfig"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body, _) = call(
        &api,
        "POST",
        &format!("/v1/requests/{id}/revoke"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["state"], "revoked");
    assert!(api.cluster.objects.lock().unwrap().is_empty());
    let (status, body, _) = call(&api, "GET", "/v1/requests", Some(&bob), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["items"].as_array().unwrap().len(),
        0,
        "bob sees only his own"
    );
    let admin = token("root", &["admins"]);
    let (_, body, _) = call(
        &api,
        "GET",
        "/v1/requests?state=revoked",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
}

#[rstest]
#[case::deny(Decision::Deny { reason: "module `groups`: `alice` is not in `sre`".into() }, StatusCode::FORBIDDEN, "denied")]
#[tokio::test]
async fn denied_request_is_403_with_the_policy_reason(
    #[case] decision: Decision,
    #[case] status: StatusCode,
    #[case] code: &str,
) {
    let api = api(decision, Limits::default()).await;
    let (got, body, _) = call(
        &api,
        "POST",
        "/v1/requests",
        Some(&token("alice", &["dev"])),
        Some(NEW_REQUEST),
    )
    .await;
    assert_eq!(got, status);
    assert_eq!(body["error"]["code"], code);
    assert_eq!(
        body["error"]["message"],
        "module `groups`: `alice` is not in `sre`"
    );
    // The stored request, and which module (name and digest only) decided.
    assert_eq!(body["error"]["request_id"].as_str().map(str::len), Some(24));
    let modules = body["error"]["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 1, "{body}");
    let decided_by = modules[0].as_object().unwrap();
    assert_eq!(decided_by.len(), 2, "{body}");
    assert_eq!(decided_by["module"], "fixed");
    assert!(decided_by["digest"].is_string(), "{body}");
    assert!(api.cluster.objects.lock().unwrap().is_empty());
}

#[tokio::test]
async fn failed_provisioning_is_502_naming_the_step() {
    let api = api(allow(), Limits::default()).await;
    *api.cluster.fail_step.lock().unwrap() = Some("role-binding".into());
    let (status, body, _) = call(
        &api,
        "POST",
        "/v1/requests",
        Some(&token("alice", &["sre"])),
        Some(NEW_REQUEST),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"]["code"], "provisioning_failed");
    assert_eq!(body["error"]["request_id"].as_str().map(str::len), Some(24));
    assert!(body["error"].get("modules").is_none(), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`role-binding`")
    );
}

#[rstest]
#[case::no_header(None, "missing_token")]
#[case::garbage(Some("not-a-jwt"), "malformed")]
#[tokio::test]
async fn unauthenticated_calls_are_401_and_audited(
    #[case] token: Option<&str>,
    #[case] code: &str,
) {
    let api = api(allow(), Limits::default()).await;
    for _ in 0..3 {
        let (status, body, _) = call(&api, "POST", "/v1/requests", token, Some(NEW_REQUEST)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], code);
    }
    let store = api.state.workflow.store();
    assert!(
        store.audit_events(0, 10).await.unwrap().is_empty(),
        "counted, not yet written"
    );
    AuthFailures::write(store.as_ref(), api.state.auth_failures.take_all()).await;
    let events = store.audit_events(0, 10).await.unwrap();
    assert_eq!(
        events.len(),
        1,
        "only the failed authentications are recorded, in one event"
    );
    assert_eq!(events[0].kind, "authentication_failed");
    assert_eq!(events[0].details["count"], 3);
    assert_eq!(events[0].details["codes"][code], 3);
    assert_eq!(
        events[0].details["source"], "unknown",
        "no socket, no peer address"
    );
}

#[rstest]
#[case::malformed("{\"cluster\": ", StatusCode::BAD_REQUEST, "invalid JSON body")]
#[case::unknown_field(r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"1h","reason":"r","admin":true}"#, StatusCode::BAD_REQUEST, "unknown field `admin`")]
#[case::bad_name(
    r#"{"cluster":"dev","namespaces":["pay_ments"],"role":"edit","duration":"1h","reason":"r"}"#,
    StatusCode::BAD_REQUEST,
    "namespace `pay_ments` is not a DNS-1123 label"
)]
#[case::zero_duration(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"0s","reason":"r"}"#,
    StatusCode::BAD_REQUEST,
    "must be more than zero"
)]
#[case::absurd_duration(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":99999999,"reason":"r"}"#,
    StatusCode::BAD_REQUEST,
    "longer than the allowed maximum"
)]
#[case::duration_type(
    r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":true,"reason":"r"}"#,
    StatusCode::BAD_REQUEST,
    "a duration such as"
)]
#[case::oversize(&format!(r#"{{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"1h","reason":"{}"}}"#, "x".repeat(5000)), StatusCode::PAYLOAD_TOO_LARGE, "larger than 4096 bytes")]
#[tokio::test]
async fn bad_bodies_are_4xx_with_a_clear_message_and_nothing_written(
    #[case] body: &str,
    #[case] status: StatusCode,
    #[case] message: &str,
) {
    let limits = Limits {
        body_bytes: 4096,
        requests_per_minute: 60,
        ..Limits::default()
    };
    let api = api(allow(), limits).await;
    let (got, answer, _) = call(
        &api,
        "POST",
        "/v1/requests",
        Some(&token("alice", &["sre"])),
        Some(body),
    )
    .await;
    assert_eq!(got, status, "{answer}");
    let text = answer["error"]["message"].as_str().unwrap();
    assert!(text.contains(message), "{text}");
    assert!(
        api.state
            .workflow
            .store()
            .audit_events(0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_rate_limit_applies_per_subject() {
    let api = api(
        Decision::Deny {
            reason: "no".into(),
        },
        Limits {
            body_bytes: 4096,
            requests_per_minute: 2,
            ..Limits::default()
        },
    )
    .await;
    let alice = token("alice", &["sre"]);
    for _ in 0..2 {
        let (status, _, _) = call(
            &api,
            "POST",
            "/v1/requests",
            Some(&alice),
            Some(NEW_REQUEST),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, body, _) = call(
        &api,
        "POST",
        "/v1/requests",
        Some(&alice),
        Some(NEW_REQUEST),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "rate_limited");
    let (status, _, _) = call(
        &api,
        "POST",
        "/v1/requests",
        Some(&token("bob", &["sre"])),
        Some(NEW_REQUEST),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn audit_is_for_auditors_only() {
    let api = api(allow(), Limits::default()).await;
    let (status, _, _) = call(
        &api,
        "GET",
        "/v1/audit",
        Some(&token("alice", &["sre"])),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    call(
        &api,
        "POST",
        "/v1/requests",
        Some(&token("alice", &["sre"])),
        Some(NEW_REQUEST),
    )
    .await;
    let (status, body, _) = call(
        &api,
        "GET",
        "/v1/audit?limit=2",
        Some(&token("eve", &["auditors"])),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["items"][0]["kind"], "request_received");
    assert_eq!(body["next"], 2);
}

#[tokio::test]
async fn every_route_is_served_and_in_the_openapi_document() {
    let mut api = api(allow(), Limits::default()).await;
    // `/metrics` is served once `[metrics]` says to whom.
    api.router = router(api.state.clone().with_metrics(MetricsAccess::Open));
    let (status, doc, _) = call(&api, "GET", "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let token = token("alice", &["sre", "auditors"]);
    for (method, path) in ROUTES {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not in openapi.json"
        );
        let uri = path.replace("{id}", "0000");
        let (status, body, _) = call(&api, &method.to_uppercase(), &uri, Some(&token), None).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            assert_eq!(
                body["error"]["message"], "request `0000` not found",
                "{method} {path}"
            );
        }
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        ROUTES.len(),
        "openapi.json documents a route the router lacks"
    );
    let (status, body, _) = call(&api, "GET", "/v2/nothing", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "no route for `/v2/nothing`");
}

/// `GET uri` on `router` with an optional bearer token: status and body text.
async fn get(router: Router, uri: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::builder().uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = router
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

const METRICS_TOKEN: &str = "test-only-metrics-token";

#[tokio::test]
async fn metrics_need_the_token_and_readiness_answers() {
    let api = api(allow(), Limits::default()).await;
    call(
        &api,
        "POST",
        "/v1/requests",
        Some(&token("alice", &["sre"])),
        Some(NEW_REQUEST),
    )
    .await;
    let guarded = router(
        api.state
            .clone()
            .with_metrics(MetricsAccess::Token(MetricsToken::new(METRICS_TOKEN))),
    );
    let (status, text) = get(guarded.clone(), "/metrics", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(!text.contains("wicket_requests_total"), "{text}");
    // A valid API token is not the metrics token.
    let alice = token("alice", &["admins"]);
    let (status, _) = get(guarded.clone(), "/metrics", Some(&alice)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, text) = get(guarded, "/metrics", Some(METRICS_TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains("wicket_requests_total{outcome=\"active\"} 1"),
        "{text}"
    );
    assert!(text.contains("wicket_active_grants 1"), "{text}");
    let (status, body, _) = call(&api, "GET", "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn metrics_are_not_served_unless_configured() {
    let api = api(allow(), Limits::default()).await;
    let (status, body, _) = call(&api, "GET", "/metrics", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "no route for `/metrics`");
    let admin = token("root", &["admins"]);
    let (status, _, _) = call(&api, "GET", "/metrics", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A listener of its own serves them, and nothing else.
    let own = metrics_router(api.state.clone().with_metrics(MetricsAccess::Open));
    let (status, text) = get(own.clone(), "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("wicket_active_grants 0"), "{text}");
    let (status, _) = get(own, "/v1/policies", Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn requesters_see_an_outline_of_the_policies() {
    let described = json!({
        "generation": 3,
        "clusters": {"dev": {"loaded_at": "2026-01-01T00:00:00Z", "chain": [{
            "name": "groups", "module": "group-access", "path": "/etc/wicket/g.wasm",
            "digest": "sha256:ab", "world": "policy", "size": 10, "on_deny": "stop",
            "on_allow": "sufficient",
            "promoted": false, "candidate": {"path": "/etc/wicket/n.wasm", "digest": "sha256:cd"}
        }]}},
        "rejections": [{"entry": "groups", "reason": "settings: `x` is not allowed"}],
        "last_reload": {"trigger": "api"},
    });
    assert_eq!(
        routes::outline(&described),
        json!({
            "generation": 3,
            "clusters": {"dev": {"chain": [{"name": "groups", "on_deny": "stop", "on_allow": "sufficient"}]}},
        })
    );
}

#[rstest]
#[case::nothing("{}", "give exactly one of `subject`, `cluster` or `all`")]
#[case::two(r#"{"all":true,"cluster":"dev"}"#, "give exactly one of")]
#[case::all_false(r#"{"all":false}"#, "`all` must be `true` when given")]
#[case::empty_sub(
    r#"{"subject":{"issuer":"wicket-test","sub":""}}"#,
    "non-empty `issuer` and `sub`"
)]
#[case::unknown_field(r#"{"everyone":true}"#, "unknown field `everyone`")]
#[case::unknown_cluster(r#"{"cluster":"prod"}"#, "cluster `prod` is not configured")]
#[tokio::test]
async fn kill_switch_bodies_name_what_is_wrong(#[case] body: &str, #[case] needle: &str) {
    let api = api(allow(), Limits::default()).await;
    let root = token("root", &["admins"]);
    let (status, answer, _) = call(&api, "POST", "/v1/revocations", Some(&root), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message}");
}

#[tokio::test]
async fn kill_switch_is_for_admins_only_and_answers_what_it_did() {
    let api = api(allow(), Limits::default()).await;
    let alice = token("alice", &["sre"]);
    let (_, created, _) = call(
        &api,
        "POST",
        "/v1/requests",
        Some(&alice),
        Some(NEW_REQUEST),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let before = api
        .state
        .workflow
        .store()
        .audit_events(0, 1000)
        .await
        .unwrap();

    // Not an admin (an auditor, even): 403, and nothing changes, not even the audit log.
    let auditor = token("eve", &["auditors", "sre"]);
    let (status, answer, _) = call(
        &api,
        "POST",
        "/v1/revocations",
        Some(&auditor),
        Some(r#"{"all":true}"#),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"]["code"], "forbidden");
    let store = api.state.workflow.store();
    assert_eq!(
        store.get_request(&id).await.unwrap().state,
        RequestState::Active
    );
    assert_eq!(store.audit_events(0, 1000).await.unwrap(), before);
    assert_eq!(lock_len(&api.cluster), 2);

    let root = token("root", &["admins"]);
    let body = json!({"subject": {"issuer": ISSUER, "sub": "alice"}}).to_string();
    let (status, answer, _) = call(&api, "POST", "/v1/revocations", Some(&root), Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["scope"]["subject"]["sub"], "alice");
    assert_eq!(answer["revoked"][0]["id"], id.as_str());
    assert_eq!(answer["revoked"][0]["state"], "revoked");
    assert_eq!(answer["failed"], json!([]));
    assert_eq!(
        store.get_request(&id).await.unwrap().state,
        RequestState::Revoked
    );
    assert_eq!(lock_len(&api.cluster), 0);
}

fn lock_len(cluster: &Memory) -> usize {
    cluster
        .objects
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .len()
}
