//! What the API shows to whom, through the real server on loopback: `/metrics` only with the
//! metrics token (or on a listener of its own), policy paths and digests only for admins and
//! auditors, and an unauthenticated `/readyz` that cannot be used to flood the API servers.

use std::time::Instant;

use tokio::task::JoinSet;
use wicket::api::READY_INTERVAL;
use wicket_tests::env::CONFIG;
use wicket_tests::tokens::{METRICS_TOKEN, token};
use wicket_tests::{Env, Running};

async fn get(wicket: &Running, base: &str, path: &str, bearer: Option<&str>) -> (u16, String) {
    let mut request = wicket.http.get(format!("{base}{path}"));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.expect("wicket answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

#[tokio::test]
async fn metrics_are_served_with_the_metrics_token_only() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let base = wicket.base.clone();
    let (status, text) = get(&wicket, &base, "/metrics", None).await;
    assert_eq!(status, 401, "{text}");
    assert!(!text.contains("wicket_"), "{text}");
    let admin = token("root", &["wicket-admins"]);
    let (status, _) = get(&wicket, &base, "/metrics", Some(&admin)).await;
    assert_eq!(status, 401, "an API token is not the metrics token");
    let (status, text) = get(&wicket, &base, "/metrics", Some(METRICS_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(text.contains("wicket_active_grants 0"), "{text}");
    wicket.stop().await;
}

#[tokio::test]
async fn metrics_on_their_own_listener_are_not_on_the_api() {
    let config = CONFIG.replace(
        "[metrics]\ntoken_file = \"{fixtures}/metrics-token\"\n",
        "[metrics]\nlisten = \"127.0.0.1:0\"\n",
    );
    assert_ne!(config, CONFIG, "the template has a `[metrics]` section");
    let env = Env::start_with(&config, "1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let (api, own) = (
        wicket.base.clone(),
        wicket.metrics_base.clone().expect("a metrics listener"),
    );
    let (status, text) = get(&wicket, &api, "/metrics", None).await;
    assert_eq!(status, 404, "{text}");
    let (status, text) = get(&wicket, &api, "/metrics", Some(METRICS_TOKEN)).await;
    assert_eq!(status, 404, "{text}");
    let (status, text) = get(&wicket, &own, "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(text.contains("wicket_active_grants 0"), "{text}");
    let alice = token("alice", &["sre"]);
    let (status, _) = get(&wicket, &own, "/v1/requests", Some(&alice)).await;
    assert_eq!(status, 404, "the metrics listener serves `/metrics` only");
    wicket.stop().await;
}

#[tokio::test]
async fn policy_paths_and_digests_are_for_admins_and_auditors() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let path = env.policy("groups").module.display().to_string();
    let mut digest = String::new();
    for groups in [["wicket-admins"], ["auditors"]] {
        let privileged = wicket
            .call("GET", "/v1/policies", Some(&token("root", &groups)), None)
            .await;
        assert_eq!(privileged.status, 200);
        let entry = &privileged.json["clusters"]["dev"]["chain"][0];
        assert_eq!(entry["path"], path.as_str(), "{}", privileged.text);
        digest = entry["digest"].as_str().expect("a digest").to_owned();
        assert!(
            privileged.json["rejections"].is_array(),
            "{}",
            privileged.text
        );
    }
    let requester = wicket
        .call("GET", "/v1/policies", Some(&token("alice", &["sre"])), None)
        .await;
    assert_eq!(requester.status, 200, "{}", requester.text);
    let chain = &requester.json["clusters"]["dev"]["chain"];
    assert_eq!(chain[0]["name"], "groups", "{}", requester.text);
    assert_eq!(chain[1]["name"], "tickets", "{}", requester.text);
    for hidden in [path.as_str(), &digest, ".wasm", "digest", "rejections"] {
        assert!(
            !requester.text.contains(hidden),
            "a requester sees `{hidden}`: {}",
            requester.text
        );
    }
    wicket.stop().await;
}

/// One readiness check lists five kinds (ServiceAccounts, Roles, RoleBindings, ClusterRoles,
/// ClusterRoleBindings) on the one cluster of the test configuration.
const LISTS_PER_CHECK: usize = 5;

#[tokio::test]
async fn readiness_calls_make_a_bounded_number_of_api_server_calls() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    env.sim.clear_request_log();
    let started = Instant::now();
    // 25 at once, then 25 one after the other.
    let mut burst = JoinSet::new();
    for _ in 0..25 {
        let (http, url) = (wicket.http.clone(), format!("{}/readyz", wicket.base));
        burst.spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) });
    }
    while let Some(answer) = burst.join_next().await {
        assert_eq!(answer.expect("a task").expect("an answer"), 200);
    }
    for _ in 0..25 {
        let (status, text) = get(&wicket, &wicket.base, "/readyz", None).await;
        assert_eq!(status, 200, "{text}");
    }
    let elapsed = started.elapsed();
    let calls = env.sim.request_log();
    // A check at the start, then at most one per interval that went by.
    let checks = 1 + (elapsed.as_secs_f64() / READY_INTERVAL.as_secs_f64()).ceil() as usize;
    assert!(
        (LISTS_PER_CHECK..=checks * LISTS_PER_CHECK).contains(&calls.len()),
        "{} API server calls for 50 readiness calls in {elapsed:?}: {:#?}",
        calls.len(),
        calls.iter().map(|c| &c.path).collect::<Vec<_>>()
    );
    wicket.stop().await;
}
