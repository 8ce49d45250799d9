//! End to end through the real HTTP server, kube-sim and real kubectl: a grant, its use, its
//! revocation, denial, expiry on time, provisioning faults, a crash mid-provisioning, and
//! the absence of secrets in logs and audit.

use std::time::Duration;

use kube_sim::{FaultAction, FaultRule};
use rstest::rstest;
use serde_json::json;
use wicket_tests::env::gated_config;
use wicket_tests::kubectl;
use wicket_tests::tokens::token;
use wicket_tests::{Env, wait_for};

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");

fn with_duration(duration: &str) -> String {
    let mut body: serde_json::Value = serde_json::from_str(EDIT_PAYMENTS).unwrap();
    body["duration"] = json!(duration);
    body.to_string()
}

#[tokio::test]
async fn sre_gets_edit_in_payments_uses_it_with_kubectl_and_loses_it_on_revoke() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let alice = token("alice", &["sre"]);
    let created = wicket
        .call("POST", "/v1/requests", Some(&alice), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["state"], "active");
    let id = created.json["id"].as_str().unwrap().to_owned();

    let issued = wicket
        .call(
            "GET",
            &format!("/v1/requests/{id}/kubeconfig"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let kubectl = kubectl::on_path(env.dir.path(), "alice", &issued.text);
    let pods = kubectl.run(&["get", "pods", "-n", "payments"]).await;
    assert!(pods.success, "get pods in payments: {}", pods.stderr);
    let system = kubectl.run(&["get", "pods", "-n", "kube-system"]).await;
    assert!(!system.success, "kube-system must be forbidden");
    assert!(system.stderr.contains("forbidden"), "{}", system.stderr);
    kubectl
        .check_can_i(
            "create-deployments  create  deployments   payments     yes
             delete-pods         delete  pods          payments     yes
             get-secrets         get     secrets       payments     no
             impersonate         impersonate serviceaccounts payments no
             bind-roles          create  rolebindings  payments     no
             other-namespace     get     pods          orders       no
             kube-system         get     pods          kube-system  no
             nodes               list    nodes         payments     no",
        )
        .await;

    let revoked = wicket
        .call(
            "POST",
            &format!("/v1/requests/{id}/revoke"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.json["state"], "revoked");
    let after = kubectl.run(&["get", "pods", "-n", "payments"]).await;
    assert!(!after.success);
    assert!(
        after.stderr.contains("Unauthorized") || after.stderr.contains("401"),
        "{}",
        after.stderr
    );
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    wicket.stop().await;
}

#[tokio::test]
async fn outsider_is_denied_with_the_policy_reason_and_nothing_is_created() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let mallory = token("mallory", &["developers"]);
    let denied = wicket
        .call("POST", "/v1/requests", Some(&mallory), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert_eq!(denied.json["error"]["code"], "denied");
    let reason = denied.json["error"]["message"].as_str().unwrap();
    assert!(reason.starts_with("module `groups`:"), "{reason}");
    let id = denied.json["error"]["request_id"].as_str().unwrap();
    assert_eq!(wicket.state(id).await, "denied");
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    wicket.stop().await;
}

#[tokio::test]
async fn a_gate_that_stops_on_deny_skips_the_rest_and_says_so_everywhere() {
    let env = Env::start_with(&gated_config(), "1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let mallory = token("mallory", &["developers"]);
    let denied = wicket
        .call("POST", "/v1/requests", Some(&mallory), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    let reason = denied.json["error"]["message"].as_str().unwrap();
    assert!(reason.starts_with("module `groups`:"), "{reason}");
    assert!(!reason.contains("tickets"), "{reason}");
    let decided: Vec<&str> = denied.json["error"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module"].as_str().unwrap())
        .collect();
    assert_eq!(decided, ["groups"], "only the module that ran decided");
    let id = denied.json["error"]["request_id"].as_str().unwrap();

    let shown = wicket
        .call("GET", &format!("/v1/requests/{id}"), Some(&mallory), None)
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    let modules = shown.json["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 2, "{}", shown.text);
    assert_eq!(modules[0]["decision"]["decision"], "deny");
    assert!(modules[0].get("skipped_after").is_none(), "{}", shown.text);
    assert_eq!(modules[1]["module"], "tickets");
    assert_eq!(modules[1]["skipped_after"], "groups");
    assert_eq!(modules[1]["decision"], serde_json::Value::Null);
    assert_eq!(modules[1]["digest"].as_str().unwrap().len(), 64);

    let events = wicket
        .service
        .workflow()
        .store()
        .audit_events_of(id, 100)
        .await
        .unwrap();
    let verdict = events
        .iter()
        .find(|e| e.kind == "verdict")
        .expect("a verdict event");
    assert_eq!(
        verdict.details["modules"][1]["skipped_after"], "groups",
        "{:#}",
        verdict.details
    );

    let admin = token("root", &["wicket-admins"]);
    let policies = wicket.call("GET", "/v1/policies", Some(&admin), None).await;
    let chain = &policies.json["clusters"]["dev"]["chain"];
    assert_eq!(chain[0]["on_deny"], "stop", "{}", policies.text);
    assert_eq!(chain[1]["on_deny"], "continue", "{}", policies.text);

    // An sre member passes the gate: both modules run and neither is skipped.
    let alice = token("alice", &["sre"]);
    let created = wicket
        .call("POST", "/v1/requests", Some(&alice), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap();
    let shown = wicket
        .call("GET", &format!("/v1/requests/{id}"), Some(&alice), None)
        .await;
    let modules = shown.json["modules"].as_array().unwrap();
    assert!(
        modules.iter().all(|m| m.get("skipped_after").is_none()),
        "{}",
        shown.text
    );
    assert_eq!(
        modules[1]["decision"]["decision"], "allow",
        "{}",
        shown.text
    );
    wicket.stop().await;
}

#[tokio::test]
async fn a_grant_of_a_few_seconds_expires_by_itself_within_a_second() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let alice = token("alice", &["sre"]);
    let created = wicket
        .call(
            "POST",
            "/v1/requests",
            Some(&alice),
            Some(&with_duration("3s")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let expires_at: jiff::Timestamp = created.json["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(!env.labelled_objects().await.is_empty());
    wait_for("the grant to expire", Duration::from_secs(120), || async {
        wicket.state(&id).await == "expired"
    })
    .await;
    let store = wicket.service.workflow().store();
    let events = store.audit_events_of(&id, 100).await.unwrap();
    let expired = events
        .iter()
        .find(|e| e.kind == "state_changed" && e.details["to"] == "expired")
        .expect("an expiry event");
    let late = expired.time.duration_since(expires_at);
    assert!(!late.is_negative(), "torn down {late:?} before expires_at");
    assert!(
        late < jiff::SignedDuration::from_secs(1),
        "torn down {late:?} after expires_at"
    );
    assert_eq!(expired.actor["component"], "expiry");
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    wicket.stop().await;
}

#[rstest]
#[case::service_account("create", "serviceaccounts", "service-account")]
#[case::role_binding("create", "rolebindings", "role-binding")]
#[case::token_request("create", "serviceaccounts/token", "token-request")]
#[tokio::test]
async fn a_failing_provisioning_step_rolls_back_and_ends_failed(
    #[case] verb: &str,
    #[case] resource: &str,
    #[case] step: &str,
) {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    env.sim.faults().add(
        FaultRule::new(FaultAction::Fail {
            code: 500,
            reason: "InternalError".into(),
            message: "injected".into(),
        })
        .verb(verb)
        .resource(resource),
    );
    let answer = wicket
        .call(
            "POST",
            "/v1/requests",
            Some(&token("alice", &["sre"])),
            Some(EDIT_PAYMENTS),
        )
        .await;
    assert_eq!(answer.status, 502, "{}", answer.text);
    assert_eq!(answer.json["error"]["code"], "provisioning_failed");
    let message = answer.json["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("`{step}`")), "{message}");
    let id = answer.json["error"]["request_id"].as_str().unwrap();
    assert_eq!(wicket.state(id).await, "failed");
    assert_eq!(
        env.labelled_objects().await,
        Vec::<String>::new(),
        "nothing orphaned"
    );
    let metrics = wicket.metrics().await;
    assert!(
        metrics.contains(&format!(
            "wicket_provisioning_failures_total{{step=\"{step}\"}} 1"
        )),
        "{metrics}"
    );
    wicket.stop().await;
}

#[tokio::test]
async fn a_crash_mid_provisioning_is_rolled_back_after_the_next_start() {
    let env = Env::start("1h").await;
    let first = env.serve(env.wasm_chain()).await;
    env.sim.faults().add(
        FaultRule::new(FaultAction::Hang)
            .verb("create")
            .resource("rolebindings"),
    );
    let base = first.base.clone();
    let alice = token("alice", &["sre"]);
    let hanging = tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .post(format!("{base}/v1/requests"))
            .bearer_auth(alice)
            .header("content-type", "application/json")
            .body(EDIT_PAYMENTS)
            .send()
            .await;
    });
    wait_for(
        "the service account to be created",
        Duration::from_secs(60),
        || async {
            env.labelled_objects()
                .await
                .iter()
                .any(|o| o.starts_with("ServiceAccount"))
        },
    )
    .await;
    let store = first.service.workflow().store().clone();
    first.kill();
    hanging.abort();
    let stuck = store
        .requests_in_state(wicket::domain::RequestState::Provisioning)
        .await
        .unwrap();
    assert_eq!(stuck.len(), 1, "one request was mid-provisioning");
    let id = stuck[0].id.clone();

    // Nobody moves its deadline ahead any more: once it passes, the next start's timers
    // fail the request and roll back what it created.
    let second = env.serve(env.wasm_chain()).await;
    wait_for("the rollback", Duration::from_secs(60), || async {
        second.state(&id).await == "failed"
    })
    .await;
    assert_eq!(
        env.labelled_objects().await,
        Vec::<String>::new(),
        "rolled back"
    );
    let events = second
        .service
        .workflow()
        .store()
        .audit_events_of(&id, 100)
        .await
        .unwrap();
    let deleted: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "object_deleted")
        .collect();
    assert_eq!(deleted.len(), 1, "the service account, once: {deleted:#?}");
    assert_eq!(deleted[0].actor["component"], "teardown");
    second.stop().await;
}
