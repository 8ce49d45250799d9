//! A workflow that survives cancellation and outages, end to end (the real HTTP server, kube-sim
//! with injected faults and latency, real kubectl): a revoke while the cluster refuses deletes
//! answers `revoking` and ends the grant once deletes work again, and at its expiry at the latest
//! however far its retries back off; an expiry whose teardown fails is `expiring` and retried
//! until the token is refused; a client that hangs up mid-provisioning leaves no request stuck.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use kube_sim::{FaultAction, FaultRule};
use serde_json::json;
use wicket::store::RequestState;
use wicket_tests::kubectl;
use wicket_tests::tokens::token;
use wicket_tests::{Env, Running, wait_for};

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");

/// The test configuration's `expiry.retry_max_interval`.
const RETRY_CAP: SignedDuration = SignedDuration::from_secs(1);

/// What a slow, shared machine may add to a bound (a teardown, a store write, a poll).
const SLACK: SignedDuration = SignedDuration::from_secs(10);

fn with_duration(duration: &str) -> String {
    let mut body: serde_json::Value = serde_json::from_str(EDIT_PAYMENTS).unwrap();
    body["duration"] = json!(duration);
    body.to_string()
}

/// Every delete fails with a 500 (kube-rs retries no 500) until the rule is removed.
fn deletes_fail() -> FaultRule {
    FaultRule::new(FaultAction::Fail {
        code: 500,
        reason: "InternalError".into(),
        message: "injected: etcd is unavailable".into(),
    })
    .verb("delete")
}

/// Whether kubectl's `stderr` says the API server refused its token (401, in its words).
fn refused_as_unauthenticated(stderr: &str) -> bool {
    ["Unauthorized", "401", "provide credentials"]
        .iter()
        .any(|words| stderr.contains(words))
}

/// When request `id` entered `state`, from its audit trail.
async fn entered(wicket: &Running, id: &str, state: &str) -> Timestamp {
    let events = wicket
        .service
        .workflow()
        .store()
        .audit_events_of(id, 1000)
        .await
        .unwrap();
    events
        .iter()
        .find(|e| {
            e.kind == "state_changed" && e.details["to"] == state && e.details["from"] != state
        })
        .unwrap_or_else(|| panic!("request `{id}` never became `{state}`: {events:#?}"))
        .time
}

/// Failed teardown attempts audited for request `id`.
async fn failed_attempts(wicket: &Running, id: &str) -> usize {
    let events = wicket
        .service
        .workflow()
        .store()
        .audit_events_of(id, 1000)
        .await
        .unwrap();
    events
        .iter()
        .filter(|e| {
            e.details["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("teardown attempt"))
        })
        .count()
}

#[tokio::test]
async fn a_revoke_while_deletes_fail_answers_revoking_and_ends_the_grant_once_they_work() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let alice = token("alice", &["sre"]);
    let (id, kubeconfig) = wicket.grant(&alice, &with_duration("60s")).await;
    let shown = wicket
        .call("GET", &format!("/v1/requests/{id}"), Some(&alice), None)
        .await;
    let expires_at: Timestamp = shown.json["expires_at"].as_str().unwrap().parse().unwrap();
    let kubectl = kubectl::on_path(env.dir.path(), "alice", &kubeconfig);

    let fault = env.sim.faults().add(deletes_fail());
    let revoked = wicket
        .call(
            "POST",
            &format!("/v1/requests/{id}/revoke"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(revoked.status, 202, "{}", revoked.text);
    assert_eq!(revoked.json["state"], "revoking", "{}", revoked.text);
    let shown = wicket
        .call("GET", &format!("/v1/requests/{id}"), Some(&alice), None)
        .await;
    assert_eq!(shown.json["state"], "revoking", "{}", shown.text);
    let refused = wicket
        .call(
            "GET",
            &format!("/v1/requests/{id}/kubeconfig"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(refused.status, 409, "no new kubeconfig: {}", refused.text);
    // A revocation asked twice is tried again and still answers clearly.
    let again = wicket
        .call(
            "POST",
            &format!("/v1/requests/{id}/revoke"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(again.status, 202, "{}", again.text);

    // The cluster refuses deletes for two seconds, then works again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(env.sim.faults().remove(fault));
    let working = Timestamp::now();
    wait_for(
        "the revocation to complete",
        Duration::from_secs(60),
        || async { wicket.state(&id).await == "revoked" },
    )
    .await;
    let ended = entered(&wicket, &id, "revoked").await;
    assert!(
        ended.duration_since(working) < RETRY_CAP + SLACK,
        "ended {:?} after deletes worked again",
        ended.duration_since(working)
    );
    assert!(
        ended < expires_at,
        "ended by the revocation's retries, not by the grant's expiry"
    );
    assert!(failed_attempts(&wicket, &id).await >= 1);
    let after = kubectl.run(&["get", "pods", "-n", "payments"]).await;
    assert!(!after.success, "the token is refused");
    assert!(
        refused_as_unauthenticated(&after.stderr),
        "{}",
        after.stderr
    );
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    let metrics = wicket.metrics().await;
    assert!(
        metrics.lines().any(|l| l
            .strip_prefix("wicket_teardown_retries_total ")
            .is_some_and(|n| n.parse::<u64>().unwrap() >= 1)),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l == "wicket_teardowns_pending 0"),
        "{metrics}"
    );
    wicket.stop().await;
}

/// Even when its retries back off far beyond the grant (an hour here), a revocation whose
/// teardown failed is tried again at the grant's expiry: the grant ends no later than
/// `expires_at` and a bound.
#[tokio::test]
async fn a_failed_revoke_ends_the_grant_at_its_expiry_at_the_latest() {
    let slow_retries = wicket_tests::env::CONFIG.replacen(
        "retry_interval = \"200ms\"\nretry_max_interval = \"1s\"",
        "retry_interval = \"1h\"\nretry_max_interval = \"1h\"",
        1,
    );
    assert_ne!(
        slow_retries,
        wicket_tests::env::CONFIG,
        "the retry settings are in the template"
    );
    let env = Env::start_with(&slow_retries, "1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let alice = token("alice", &["sre"]);
    let (id, kubeconfig) = wicket.grant(&alice, &with_duration("8s")).await;
    let shown = wicket
        .call("GET", &format!("/v1/requests/{id}"), Some(&alice), None)
        .await;
    let expires_at: Timestamp = shown.json["expires_at"].as_str().unwrap().parse().unwrap();
    let kubectl = kubectl::on_path(env.dir.path(), "alice", &kubeconfig);

    let fault = env.sim.faults().add(deletes_fail());
    let revoked = wicket
        .call(
            "POST",
            &format!("/v1/requests/{id}/revoke"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(revoked.status, 202, "{}", revoked.text);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(env.sim.faults().remove(fault));
    wait_for(
        "the revocation to complete",
        Duration::from_secs(60),
        || async { wicket.state(&id).await == "revoked" },
    )
    .await;
    let ended = entered(&wicket, &id, "revoked").await;
    assert!(
        ended.duration_since(expires_at) < SLACK,
        "ended {:?} after expires_at",
        ended.duration_since(expires_at)
    );
    let after = kubectl.run(&["get", "pods", "-n", "payments"]).await;
    assert!(!after.success, "the token is refused");
    assert!(
        refused_as_unauthenticated(&after.stderr),
        "{}",
        after.stderr
    );
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    wicket.stop().await;
}

#[tokio::test]
async fn an_expiry_while_the_account_cannot_be_deleted_is_retried_until_the_token_is_refused() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let alice = token("alice", &["sre"]);
    let fault = env
        .sim
        .faults()
        .add(deletes_fail().resource("serviceaccounts"));
    let (id, kubeconfig) = wicket.grant(&alice, &with_duration("3s")).await;
    let kubectl = kubectl::on_path(env.dir.path(), "alice", &kubeconfig);
    wait_for("a failed expiry", Duration::from_secs(60), || async {
        failed_attempts(&wicket, &id).await >= 4
    })
    .await;
    let refused = wicket
        .call(
            "GET",
            &format!("/v1/requests/{id}/kubeconfig"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(refused.status, 409, "past its expiry: {}", refused.text);
    assert_eq!(wicket.state(&id).await, RequestState::Expiring.as_str());
    let shown = wicket
        .call("GET", &format!("/v1/requests/{id}"), Some(&alice), None)
        .await;
    assert_eq!(shown.json["state"], "expiring", "{}", shown.text);

    assert!(env.sim.faults().remove(fault));
    let working = Timestamp::now();
    wait_for(
        "the expiry to complete",
        Duration::from_secs(60),
        || async { wicket.state(&id).await == "expired" },
    )
    .await;
    let ended = entered(&wicket, &id, "expired").await;
    assert!(
        ended.duration_since(working) < RETRY_CAP + SLACK,
        "the token outlived the working cluster by {:?}",
        ended.duration_since(working)
    );
    let after = kubectl.run(&["get", "pods", "-n", "payments"]).await;
    assert!(!after.success, "the token is refused");
    assert!(
        refused_as_unauthenticated(&after.stderr),
        "{}",
        after.stderr
    );
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    wicket.stop().await;
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_provisioning_leaves_no_request_stuck() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    // Creating the RoleBinding takes a while: the client hangs up meanwhile.
    env.sim.faults().add(
        FaultRule::new(FaultAction::Latency { millis: 1500 })
            .verb("create")
            .resource("rolebindings"),
    );
    let base = wicket.base.clone();
    let alice = token("alice", &["sre"]);
    let bearer = alice.clone();
    let client = tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .post(format!("{base}/v1/requests"))
            .bearer_auth(bearer)
            .header("content-type", "application/json")
            .body(EDIT_PAYMENTS)
            .send()
            .await;
    });
    let store = wicket.service.workflow().store().clone();
    let started = Instant::now();
    let id = loop {
        let provisioning = store
            .requests_in_state(RequestState::Provisioning)
            .await
            .unwrap();
        if let Some(record) = provisioning.first() {
            break record.id.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no provisioning"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    client.abort(); // the connection closes with the request unanswered
    let _ = client.await;
    wait_for(
        "the request to end active",
        Duration::from_secs(60),
        || async {
            let state = wicket.state(&id).await;
            assert_ne!(state, "failed", "provisioning was cut off half-way");
            state == "active"
        },
    )
    .await;
    assert!(
        wicket.service.workflow().armed_timers() >= 1,
        "its expiry is armed"
    );
    let objects = env.labelled_objects().await;
    assert!(
        objects.iter().any(|o| o.starts_with("ServiceAccount"))
            && objects.iter().any(|o| o.starts_with("RoleBinding")),
        "{objects:?}"
    );
    // The grant works, and ends.
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
    assert!(pods.success, "{}", pods.stderr);
    let revoked = wicket
        .call(
            "POST",
            &format!("/v1/requests/{id}/revoke"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    wicket.stop().await;
}
