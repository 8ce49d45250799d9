//! One model of a chain's result, through the HTTP API, the workflow and the store: two modules
//! that each need a different approval give a request two separate approval requirements
//! (each with its own approvers and count), never one merged requirement.

use serde_json::json;
use wicket_tests::Env;
use wicket_tests::tokens::token;

const TEMPLATE: &str = include_str!("../fixtures/reload.toml");

/// Two `require-ticket` entries asking different approvers (and counts) when no ticket is cited.
const TWO_APPROVALS: &str = r#"
[[clusters.policies]]
name = "leads"
module = "{policies}/require_ticket.wasm"
[clusters.policies.settings]
namespaces = ["payments"]
ticket_pattern = "\\bINC-[0-9]+\\b"
approver_groups = ["test:sre-leads"]

[[clusters.policies]]
name = "security"
module = "{policies}/require_ticket.wasm"
[clusters.policies.settings]
namespaces = ["payments"]
ticket_pattern = "\\bINC-[0-9]+\\b"
approver_groups = ["test:security"]
approvals = 2
"#;

#[tokio::test]
async fn two_modules_needing_different_approvals_give_two_separate_requirements() {
    let config = TEMPLATE
        .replace("{watch}", "false")
        .replace("{chain}", TWO_APPROVALS);
    let env = Env::start_with(&config, "1h").await;
    let wicket = env.serve(env.live_chains()).await;
    let alice = token("alice", &["sre"]);
    let body = json!({
        "cluster": "dev",
        "namespaces": ["payments"],
        "role": "edit",
        "duration": "10m",
        "reason": "no ticket yet",
    })
    .to_string();
    let created = wicket
        .call("POST", "/v1/requests", Some(&alice), Some(&body))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    assert_eq!(
        created.json["state"], "pending-approval",
        "{}",
        created.text
    );
    let id = created.json["id"].as_str().expect("an id");

    let shown = wicket
        .call("GET", &format!("/v1/requests/{id}"), Some(&alice), None)
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    let verdict = &shown.json["verdict"];
    assert_eq!(verdict["decision"], "needs_approval", "{}", shown.text);
    let approvals = verdict["approvals"].as_array().expect("approvals");
    let approvers: Vec<(&str, u64)> = approvals
        .iter()
        .map(|a| {
            (
                a["groups"][0].as_str().unwrap_or_default(),
                a["count"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        approvers,
        [("test:sre-leads", 1), ("test:security", 2)],
        "{}",
        shown.text
    );
    assert_eq!(verdict["grant"]["ttl_seconds"], 600, "{}", shown.text);

    // The audit log records the same verdict.
    let events = wicket
        .service
        .workflow()
        .store()
        .audit_events_of(id, 100)
        .await
        .expect("events");
    let recorded = events
        .iter()
        .find(|e| e.kind == "verdict")
        .expect("a verdict event");
    assert_eq!(&recorded.details["decision"], verdict, "{recorded:?}");
    wicket.stop().await;
}
