//! Hot reload against the real HTTP server: atomic swaps under concurrent load, rejected
//! modules (the previous version keeps answering), a module file written in two halves,
//! shadow evaluation of a candidate and its promotion (kept across a restart).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rstest::rstest;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wicket_tests::tokens::token;
use wicket_tests::{Env, Running, guests, wait_for};

const TEMPLATE: &str = include_str!("../fixtures/reload.toml");
/// Far more than any reload takes, so a slow shared machine cannot fail the tests.
const PATIENCE: Duration = Duration::from_secs(60);

/// The swapped module. Its deadline is generous: these tests are about swaps, and a loaded
/// 2-core machine can pause a decision's thread for more than the default 100 ms.
const GATE: &str = r#"
[[clusters.policies]]
name = "gate"
module = "{policies}/gate.wasm"
deadline_ms = 2000
"#;

const GROUPS: &str = r#"
[[clusters.policies]]
name = "groups"
module = "{policies}/group_access.wasm"
[clusters.policies.settings]
allow = [{ groups = ["test:sre"], clusters = ["dev"], namespaces = ["payments", "orders"], roles = ["view", "edit"], max_ttl_seconds = 3600 }]
"#;

/// The same module as candidate, with settings that also let `developers` view `orders`.
const GROUPS_WITH_CANDIDATE: &str = r#"
[[clusters.policies]]
name = "groups"
module = "{policies}/group_access.wasm"
candidate = "{policies}/group_access.wasm"
[clusters.policies.settings]
allow = [{ groups = ["test:sre"], clusters = ["dev"], namespaces = ["payments", "orders"], roles = ["view", "edit"], max_ttl_seconds = 3600 }]
[clusters.policies.candidate_settings]
allow = [
  { groups = ["test:sre"], clusters = ["dev"], namespaces = ["payments", "orders"], roles = ["view", "edit"], max_ttl_seconds = 3600 },
  { groups = ["test:developers"], clusters = ["dev"], namespaces = ["orders"], roles = ["view"], max_ttl_seconds = 600 },
]
"#;

const VIEW_ORDERS: &str =
    r#"{"cluster":"dev","namespaces":["orders"],"role":"view","duration":"10m","reason":"INC-1"}"#;

async fn env(chain: &str, watch: bool) -> Env {
    let config = TEMPLATE
        .replace("{watch}", &watch.to_string())
        .replace("{chain}", chain);
    Env::start_with(&config, "1h").await
}

fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("a built guest")
}

/// Replaces `path` with `bytes` at once (write beside it, then rename), as a deployment does.
fn replace(path: &Path, bytes: &[u8]) {
    let temp = path.with_extension("partial");
    std::fs::write(&temp, bytes).expect("write");
    std::fs::rename(&temp, path).expect("rename");
}

/// Replaces `from` with `to` in the environment's configuration file (for the next reload).
fn edit_config(env: &Env, from: &str, to: &str) {
    let path = env.config_path();
    let text = std::fs::read_to_string(&path).expect("the configuration");
    assert!(text.contains(from), "the configuration has no `{from}`");
    std::fs::write(&path, text.replace(from, to)).expect("write the configuration");
}

fn admin() -> String {
    token("root", &["wicket-admins"])
}

fn auditor() -> String {
    token("audit", &["auditors"])
}

async fn policies(running: &Running) -> Value {
    running
        .call("GET", "/v1/policies", Some(&admin()), None)
        .await
        .json
}

async fn reload(running: &Running) -> Value {
    let answer = running
        .call("POST", "/v1/policies/reload", Some(&admin()), None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json
}

/// Every audit event of `kind`.
async fn audited(running: &Running, kind: &str) -> Vec<Value> {
    let answer = running
        .call("GET", "/v1/audit?limit=500", Some(&auditor()), None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// The digest of the first module that decided, from a submit's answer (201/202 body or
/// 403 error body).
fn decided_by(body: &Value) -> Option<&str> {
    body["modules"][0]["digest"]
        .as_str()
        .or_else(|| body["error"]["modules"][0]["digest"].as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn swaps_between_two_versions_under_load_without_a_failed_or_stale_decision() {
    let env = env(GATE, false).await;
    let gate = env.dir.path().join("policies").join("gate.wasm");
    let versions = [read(guests::NEEDS_APPROVAL), read(guests::DENY)];
    let digests = [digest(&versions[0]), digest(&versions[1])];
    replace(&gate, &versions[0]);
    let running = Arc::new(env.serve(env.live_chains()).await);
    // Reload k (k = 1..=20) serves version k % 2; the first set is version 0.
    let started = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client in 0..100 {
        let (running, started, done, answered, stop, digests) = (
            Arc::clone(&running),
            Arc::clone(&started),
            Arc::clone(&done),
            Arc::clone(&answered),
            Arc::clone(&stop),
            digests.clone(),
        );
        clients.push(tokio::spawn(async move {
            let token = token(&format!("client-{client}"), &["sre"]);
            let mut problems = Vec::new();
            let mut exact = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let before = done.load(Ordering::SeqCst);
                let answer = running
                    .call("POST", "/v1/requests", Some(&token), Some(VIEW_ORDERS))
                    .await;
                let after = started.load(Ordering::SeqCst);
                answered.fetch_add(1, Ordering::SeqCst);
                let Some(used) = decided_by(&answer.json) else {
                    problems.push(format!("{}: {}", answer.status, answer.text));
                    continue;
                };
                // The verdict matches the version whose digest the answer reports.
                let version = digests.iter().position(|d| d == used);
                let expected_status = match version {
                    Some(0) => 202,
                    Some(_) => 403,
                    None => {
                        problems.push(format!("unknown digest {used}"));
                        continue;
                    }
                };
                if answer.status != expected_status {
                    problems.push(format!(
                        "digest of version {version:?} but status {}: {}",
                        answer.status, answer.text
                    ));
                }
                // Only versions serving between the request's start and its answer: a
                // request started after reload k reported done never uses an older one.
                let possible: Vec<usize> = (before..=after).map(|k| (k % 2) as usize).collect();
                if !possible.contains(&version.unwrap_or(2)) {
                    problems.push(format!(
                        "started after reload {before} was done, before reload {} started, but used version {version:?}",
                        after + 1
                    ));
                }
                exact += u64::from(before == after);
            }
            (problems, exact)
        }));
    }
    let admin = admin();
    for k in 1..=20u64 {
        // Let the load run on this version before swapping again.
        let seen = answered.load(Ordering::SeqCst);
        wait_for("requests on the current version", PATIENCE, || {
            let answered = Arc::clone(&answered);
            async move { answered.load(Ordering::SeqCst) >= seen + 50 }
        })
        .await;
        let version = (k % 2) as usize;
        replace(&gate, &versions[version]);
        started.store(k, Ordering::SeqCst);
        let answer = running
            .call("POST", "/v1/policies/reload", Some(&admin), None)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.json["swapped"], true, "{}", answer.text);
        assert_eq!(
            answer.json["changed"][0]["entries"][0]["digest"], digests[version],
            "{}",
            answer.text
        );
        done.store(k, Ordering::SeqCst);
    }
    stop.store(true, Ordering::SeqCst);
    let mut problems = Vec::new();
    let mut exact = 0;
    for client in clients {
        let (found, checked) = client.await.expect("a client");
        problems.extend(found);
        exact += checked;
    }
    assert!(
        problems.is_empty(),
        "{} problems: {:#?}",
        problems.len(),
        &problems[..problems.len().min(20)]
    );
    assert!(exact > 0, "no request ran entirely between two reloads");
    assert_eq!(policies(&running).await["generation"], 21);
    Arc::into_inner(running)
        .expect("clients are done")
        .stop()
        .await;
}

/// What is written to break the `groups` entry, and what the rejection says.
enum Break {
    /// Garbage bytes in place of the module.
    Corrupt,
    /// A component of another world.
    WrongWorld,
    /// Settings the module refuses.
    InvalidSettings,
    /// A cases file beside the module that it fails.
    FailingCase,
}

#[rstest]
#[case::corrupt(Break::Corrupt, "is not a valid WebAssembly component")]
#[case::wrong_world(
    Break::WrongWorld,
    "does not implement the `wicket:policy/policy` world"
)]
#[case::invalid_settings(Break::InvalidSettings, "rejected its settings")]
#[case::failing_case(Break::FailingCase, "case `sre-may-view-orders-forever`")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_module_leaves_the_previous_version_answering(
    #[case] change: Break,
    #[case] reason: &str,
) {
    let env = env(GROUPS, false).await;
    let running = env.serve(env.live_chains()).await;
    let module = env.dir.path().join("policies").join("group_access.wasm");
    let before = policies(&running).await;
    let serving = before["clusters"]["dev"]["chain"][0]["digest"].clone();
    match change {
        Break::Corrupt => replace(&module, b"\0asm this is not a component"),
        Break::WrongWorld => replace(&module, &read(guests::WRONG_WORLD)),
        Break::InvalidSettings => {
            edit_config(&env, "max_ttl_seconds = 3600", "max_ttl_seconds = 0");
        }
        Break::FailingCase => std::fs::write(
            module.with_file_name("group_access.cases.json"),
            include_str!("../fixtures/reload/failing.cases.json"),
        )
        .expect("write the cases file"),
    }
    let report = reload(&running).await;
    assert_eq!(report["swapped"], false, "{report:#}");
    let rejection = &report["rejected"][0];
    assert_eq!(rejection["cluster"], "dev", "{report:#}");
    assert!(
        rejection["reason"]
            .as_str()
            .unwrap_or_default()
            .contains(reason),
        "{report:#}"
    );
    // Shown with its reason and time; the previous version is still the one serving.
    let now = policies(&running).await;
    assert_eq!(now["generation"], before["generation"], "{now:#}");
    assert_eq!(
        now["rejections"][0]["reason"], rejection["reason"],
        "{now:#}"
    );
    assert!(now["rejections"][0]["at"].is_string(), "{now:#}");
    assert_eq!(now["clusters"]["dev"]["chain"][0]["digest"], serving);
    let answer = running
        .call(
            "POST",
            "/v1/requests",
            Some(&token("alice", &["sre"])),
            Some(VIEW_ORDERS),
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(decided_by(&answer.json), serving.as_str());
    let bob = running
        .call(
            "POST",
            "/v1/requests",
            Some(&token("bob", &["developers"])),
            Some(VIEW_ORDERS),
        )
        .await;
    assert_eq!(
        bob.status, 403,
        "the old settings still deny bob: {}",
        bob.text
    );
    // Audited and counted.
    let events = audited(&running, "policy_rejected").await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["details"]["reason"], rejection["reason"]);
    let metrics = running.metrics().await;
    assert!(
        metrics.contains("wicket_policy_rejections_total{cluster=\"dev\"} 1"),
        "{metrics}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_written_in_two_halves_is_loaded_once_complete() {
    let env = env(GATE, true).await;
    let gate = env.dir.path().join("policies").join("gate.wasm");
    replace(&gate, &read(guests::NEEDS_APPROVAL));
    let running = env.serve(env.live_chains()).await;
    assert_eq!(policies(&running).await["generation"], 1);
    let deny = read(guests::DENY);
    let (first, second) = deny.split_at(deny.len() / 2);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&gate).expect("open the module");
        file.write_all(first).expect("first half");
        file.sync_all().expect("flush the first half");
        file.write_all(second).expect("second half");
    }
    wait_for("the watcher to load the new module", PATIENCE, || async {
        policies(&running).await["generation"] == 2
    })
    .await;
    let now = policies(&running).await;
    assert_eq!(now["clusters"]["dev"]["chain"][0]["digest"], digest(&deny));
    assert_eq!(now["rejections"], json!([]), "{now:#}");
    // Loaded once: a reload now finds nothing to change, and nothing was ever rejected.
    let report = reload(&running).await;
    assert_eq!(report["swapped"], false, "{report:#}");
    assert_eq!(report["generation"], 2, "{report:#}");
    assert!(audited(&running, "policy_rejected").await.is_empty());
    assert_eq!(audited(&running, "policies_reloaded").await.len(), 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_differing_on_one_request_is_recorded_once_and_can_be_promoted() {
    let env = env(GROUPS_WITH_CANDIDATE, false).await;
    let running = env.serve(env.live_chains()).await;
    let submit = |subject: &'static str, group: &'static str| {
        let running = &running;
        async move {
            running
                .call(
                    "POST",
                    "/v1/requests",
                    Some(&token(subject, &[group])),
                    Some(VIEW_ORDERS),
                )
                .await
        }
    };
    // Both allow alice, both deny carol; only the candidate would allow bob.
    assert_eq!(submit("alice", "sre").await.status, 201);
    let bob = submit("bob", "developers").await;
    assert_eq!(
        bob.status, 403,
        "only the active verdict counts: {}",
        bob.text
    );
    assert_eq!(submit("carol", "outsiders").await.status, 403);
    let differences = audited(&running, "shadow_difference").await;
    assert_eq!(differences.len(), 1, "{differences:#?}");
    assert_eq!(
        differences[0]["request_id"],
        bob.json["error"]["request_id"]
    );
    assert_eq!(
        differences[0]["details"]["active"]["decision"]["decision"],
        "deny"
    );
    assert_eq!(
        differences[0]["details"]["candidate"]["decision"]["decision"],
        "allow"
    );
    let candidate = &policies(&running).await["clusters"]["dev"]["chain"][0]["candidate"];
    assert_eq!(candidate["evaluated"], 3, "{candidate:#}");
    assert_eq!(candidate["differences"], 1, "{candidate:#}");
    let metrics = running.metrics().await;
    assert!(
        metrics.contains(
            "wicket_policy_shadow_differences_total{cluster=\"dev\",policy=\"groups\"} 1"
        ),
        "{metrics}"
    );
    // Only admins promote.
    let refused = running
        .call(
            "POST",
            "/v1/policies/groups/promote",
            Some(&token("alice", &["sre"])),
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let missing = running
        .call("POST", "/v1/policies/nothing/promote", Some(&admin()), None)
        .await;
    assert_eq!(missing.status, 404, "{}", missing.text);
    let promoted = running
        .call("POST", "/v1/policies/groups/promote", Some(&admin()), None)
        .await;
    assert_eq!(promoted.status, 200, "{}", promoted.text);
    assert_eq!(promoted.json["promoted"][0]["entry"], "groups");
    assert_eq!(
        promoted.json["reload"]["swapped"], true,
        "{}",
        promoted.text
    );
    assert_eq!(submit("bob", "developers").await.status, 201);
    running.stop().await;
    // A restart on the same configuration and store keeps the promotion.
    let again = env.serve(env.live_chains()).await;
    let chain = &policies(&again).await["clusters"]["dev"]["chain"][0];
    assert_eq!(chain["promoted"], true, "{chain:#}");
    assert!(chain.get("candidate").is_none(), "{chain:#}");
    let dave = again
        .call(
            "POST",
            "/v1/requests",
            Some(&token("dave", &["developers"])),
            Some(VIEW_ORDERS),
        )
        .await;
    assert_eq!(dave.status, 201, "{}", dave.text);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gate_skips_the_entries_after_it_and_their_candidates_until_reloaded_otherwise()
{
    let chain = format!("{}on_deny = \"stop\"\n{GROUPS_WITH_CANDIDATE}", GATE);
    let env = env(&chain, false).await;
    replace(
        &env.dir.path().join("policies").join("gate.wasm"),
        &read(guests::DENY),
    );
    let running = env.serve(env.live_chains()).await;
    let bob_token = token("bob", &["developers"]);
    let bob = || running.call("POST", "/v1/requests", Some(&bob_token), Some(VIEW_ORDERS));
    // The gate denies and stops: `groups` is skipped, so its candidate (which would allow bob)
    // is not evaluated and no difference is recorded.
    let stopped = bob().await;
    assert_eq!(stopped.status, 403, "{}", stopped.text);
    let reason = stopped.json["error"]["message"].as_str().unwrap();
    assert_eq!(reason, "module `gate`: the deny guest refuses bob");
    let chain = &policies(&running).await["clusters"]["dev"]["chain"];
    assert_eq!(chain[0]["on_deny"], "stop", "{chain:#}");
    assert_eq!(chain[1]["candidate"]["evaluated"], 0, "{chain:#}");
    assert!(audited(&running, "shadow_difference").await.is_empty());

    // The same gate told to go on: a reload swaps the chain, `groups` runs again (and denies
    // too), and its candidate's different answer is recorded.
    edit_config(&env, "on_deny = \"stop\"", "on_deny = \"continue\"");
    let report = reload(&running).await;
    assert_eq!(report["swapped"], true, "{report:#}");
    let continued = bob().await;
    assert_eq!(continued.status, 403, "{}", continued.text);
    let reason = continued.json["error"]["message"].as_str().unwrap();
    assert!(
        reason.starts_with("module `gate`: the deny guest refuses bob; module `groups`: "),
        "{reason}"
    );
    let chain = &policies(&running).await["clusters"]["dev"]["chain"];
    assert_eq!(chain[0]["on_deny"], "continue", "{chain:#}");
    assert_eq!(chain[1]["candidate"]["evaluated"], 1, "{chain:#}");
    let differences = audited(&running, "shadow_difference").await;
    assert_eq!(differences.len(), 1, "{differences:#?}");
    assert_eq!(
        differences[0]["request_id"],
        continued.json["error"]["request_id"]
    );
    running.stop().await;
}
