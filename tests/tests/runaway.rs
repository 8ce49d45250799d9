//! Runaway policy code against the real HTTP server: a module that prints, sleeps or spins is
//! answered within its deadline (a deny, never an empty reply or an allow), and while slow
//! decisions run, `/healthz`, other requests and expiry timers keep going. A full evaluation
//! queue refuses a request with 503 and stores nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wicket::app::PolicyChains;
use wicket_tests::env::Answer;
use wicket_tests::tokens::token;
use wicket_tests::{Env, Running, guests, wait_for};

const TEMPLATE: &str = include_str!("../fixtures/reload.toml");
/// Far more than anything here takes, so a slow shared machine cannot fail the tests.
const PATIENCE: Duration = Duration::from_secs(60);
/// A decision of a module with a 100 ms deadline answers well within this (not 5 s).
const PROMPT: Duration = Duration::from_secs(2);

/// The `dev` cluster's chain: one `guest` entry running `module` with this deadline.
async fn env(module: &str, deadline_ms: u64) -> Env {
    let chain = format!(
        "[[clusters.policies]]\nname = \"guest\"\nmodule = {module:?}\ndeadline_ms = {deadline_ms}\n"
    );
    let config = TEMPLATE
        .replace("{watch}", "false")
        .replace("{chain}", &chain);
    Env::start_with(&config, "1h").await
}

/// Serves the configured chains as `wicket serve` loads them (from the configuration file,
/// on whatever thread calls; here a tokio worker).
async fn serve(env: &Env) -> Running {
    env.serve(env.live_chains()).await
}

fn body(reason: &str, duration: &str) -> String {
    serde_json::json!({
        "cluster": "dev",
        "namespaces": ["payments"],
        "role": "edit",
        "duration": duration,
        "reason": reason,
    })
    .to_string()
}

async fn ask(wicket: &Running, reason: &str, duration: &str) -> Answer {
    let alice = token("alice", &["sre"]);
    wicket
        .call(
            "POST",
            "/v1/requests",
            Some(&alice),
            Some(&body(reason, duration)),
        )
        .await
}

/// A deny by the policy chain whose reason names the module's failure `what`.
fn assert_denied(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 403, "{}", answer.text);
    assert_eq!(answer.json["error"]["code"], "denied", "{}", answer.text);
    let message = answer.json["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(what), "{}", answer.text);
}

async fn assert_healthy(wicket: &Running) {
    let started = Instant::now();
    let health = wicket.call("GET", "/healthz", None, None).await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "`/healthz` took {:?}",
        started.elapsed()
    );
}

/// Printing (what the author guide suggests for debugging) while validating the settings at
/// start-up and while deciding: the module decides as written and the service goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_prints_decides_and_the_service_goes_on() {
    let env = env(guests::PRINT, 100).await;
    let wicket = serve(&env).await;
    let answer = ask(&wicket, "INC-1 printing", "10m").await;
    assert_denied(&answer, "printed while deciding for alice");
    assert_healthy(&wicket).await;
    wicket.stop().await;
}

/// A module sleeping 5 s with a 100 ms deadline is denied at its deadline, not 5 s later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_sleeps_is_denied_at_its_deadline() {
    let env = env(guests::SLEEP, 100).await;
    let wicket = serve(&env).await;
    let started = Instant::now();
    let answer = ask(&wicket, "INC-1 sleeping", "10m").await;
    let took = started.elapsed();
    assert_denied(&answer, "deadline of 100 ms exceeded");
    assert!(took < PROMPT, "answered after {took:?}");
    assert_healthy(&wicket).await;
    wicket.stop().await;
}

/// A module that never returns is denied at its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_spins_is_denied_at_its_deadline() {
    let env = env(guests::INFINITE_LOOP, 100).await;
    let wicket = serve(&env).await;
    let started = Instant::now();
    let answer = ask(&wicket, "INC-1 spinning", "10m").await;
    let took = started.elapsed();
    assert_denied(&answer, "deadline of 100 ms exceeded");
    assert!(took < PROMPT, "answered after {took:?}");
    wicket.stop().await;
}

/// Eight decisions that each sleep to their 1 s deadline keep the evaluation threads busy for
/// seconds; meanwhile `/healthz` answers at once, a grant expires on time and a quick request
/// is decided and provisioned. Every slow one is denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_decisions_leave_health_other_requests_and_expiry_working() {
    let env = env(guests::SLEEP, 1000).await;
    let wicket = Arc::new(serve(&env).await);
    let short = ask(&wicket, "quick INC-1", "3s").await;
    assert_eq!(short.status, 201, "{}", short.text);
    let short_id = short.json["id"].as_str().expect("an id").to_owned();
    let expires_at: jiff::Timestamp = short.json["expires_at"]
        .as_str()
        .expect("an expiry")
        .parse()
        .expect("a timestamp");

    let slow: Vec<_> = (0..8)
        .map(|i| {
            let wicket = Arc::clone(&wicket);
            tokio::spawn(async move { ask(&wicket, &format!("INC-{i} slow"), "10m").await })
        })
        .collect();
    let started = Instant::now();
    let quick = {
        let wicket = Arc::clone(&wicket);
        tokio::spawn(async move { ask(&wicket, "quick INC-2", "10m").await })
    };
    // `/healthz` answers at once every time, through the seconds the slow batch takes.
    while !slow.iter().all(tokio::task::JoinHandle::is_finished) {
        assert_healthy(&wicket).await;
        assert!(
            started.elapsed() < PATIENCE,
            "the slow decisions never ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_for("the short grant to expire", PATIENCE, || async {
        wicket.state(&short_id).await == "expired"
    })
    .await;
    let store = wicket.service.workflow().store();
    let events = store.audit_events_of(&short_id, 100).await.expect("events");
    let expired = events
        .iter()
        .find(|e| e.kind == "state_changed" && e.details["to"] == "expired")
        .expect("an expiry event");
    let late = expired.time.duration_since(expires_at);
    assert!(
        late < jiff::SignedDuration::from_secs(1),
        "torn down {late:?} after expires_at, while slow decisions ran"
    );
    for answer in slow {
        assert_denied(
            &answer.await.expect("joined"),
            "deadline of 1000 ms exceeded",
        );
    }
    let quick = quick.await.expect("joined");
    assert_eq!(quick.status, 201, "{}", quick.text);
    assert_eq!(quick.json["state"], "active", "{}", quick.text);
    Arc::into_inner(wicket).expect("one owner").stop().await;
}

/// With one evaluation thread and room for one waiting decision, a burst of slow requests
/// gets 503 for what does not fit (nothing stored), never an allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_evaluation_queue_refuses_with_503() {
    let env = env(guests::SLEEP, 2000).await;
    let chains = PolicyChains::from_config_file(env.engine(), &env.config_path(), &env.config)
        .expect("the chain loads")
        .with_evaluation_pool(1, 1)
        .expect("a pool");
    let wicket = Arc::new(env.serve(Arc::new(chains)).await);
    let burst: Vec<_> = (0..4)
        .map(|i| {
            let wicket = Arc::clone(&wicket);
            tokio::spawn(async move { ask(&wicket, &format!("INC-{i} slow"), "10m").await })
        })
        .collect();
    let mut refused = 0;
    for answer in burst {
        let answer = answer.await.expect("joined");
        if answer.status == 503 {
            refused += 1;
            assert_eq!(answer.json["error"]["code"], "not_ready", "{}", answer.text);
            let message = answer.json["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("at capacity"), "{}", answer.text);
        } else {
            assert_denied(&answer, "deadline of 2000 ms exceeded");
        }
    }
    assert!(
        refused >= 1,
        "four concurrent 2 s decisions fit one thread and one slot"
    );
    let alice = token("alice", &["sre"]);
    let listed = wicket.call("GET", "/v1/requests", Some(&alice), None).await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    let stored = listed.json["items"].as_array().map_or(0, Vec::len);
    assert_eq!(stored, 4 - refused, "{}", listed.text);
    assert!(
        listed.json["items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|item: &Value| item["state"] == "denied"),
        "{}",
        listed.text
    );
    Arc::into_inner(wicket).expect("one owner").stop().await;
}
