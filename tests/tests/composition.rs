//! Chain composition through the real HTTP server with real WebAssembly modules: a module
//! that abstains is left out, a chain of abstentions denies, `on_allow = "sufficient"` ends
//! the chain with its allow, and a module built against `wicket:policy@0.1.0` decides beside
//! 0.2.0 ones.

use wicket_tests::env::CONFIG;
use wicket_tests::tokens::token;
use wicket_tests::{Env, guests};

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");

/// The test configuration with the `dev` cluster's chain replaced by `entries`, each
/// `(name, module, extra keys, settings)` (TOML lines).
fn config_with(entries: &[(&str, &str, &str, &str)]) -> String {
    let start = CONFIG
        .find("[[clusters.policies]]")
        .expect("the test configuration has a chain");
    let mut config = CONFIG[..start].to_owned();
    for (name, module, extra, settings) in entries {
        config.push_str(&format!(
            "[[clusters.policies]]\nname = \"{name}\"\nmodule = \"{module}\"\n{extra}\n\
             [clusters.policies.settings]\n{settings}\n"
        ));
    }
    config
}

const SUFFICIENT: &str = "on_allow = \"sufficient\"";
/// The allow guest's settings that make it abstain.
const ABSTAIN: &str = "mode = \"abstain\"";
/// `group-access` settings: `test:sre` may have `edit` in `payments`.
const SRE_EDIT_PAYMENTS: &str = "allow = [{ groups = [\"test:sre\"], clusters = [\"dev\"], \
     namespaces = [\"payments\"], roles = [\"edit\"], max_ttl_seconds = 3600 }]";

/// A team's rule that is not concerned with a request abstains: the rest of the chain
/// decides, for a requester it allows and one it denies; an older (0.1.0) module decides
/// beside it. `GET /v1/policies` shows every entry's controls and contract version.
#[tokio::test]
async fn an_abstaining_module_is_left_out_of_the_verdict() {
    let config = config_with(&[
        ("oncall", guests::ALLOW, SUFFICIENT, ABSTAIN),
        (
            "groups",
            "{policies}/group_access.wasm",
            "",
            SRE_EDIT_PAYMENTS,
        ),
        ("legacy", guests::LEGACY, "", ""),
    ]);
    let env = Env::start_with(&config, "1h").await;
    let wicket = env.serve(env.wasm_chain()).await;

    let alice = token("alice", &["sre"]);
    let created = wicket
        .call("POST", "/v1/requests", Some(&alice), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["state"], "active");
    let id = created.json["id"].as_str().unwrap();
    let shown = wicket
        .call("GET", &format!("/v1/requests/{id}"), Some(&alice), None)
        .await;
    let modules = shown.json["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 3, "{}", shown.text);
    assert_eq!(
        modules[0]["decision"]["decision"], "abstain",
        "{}",
        shown.text
    );
    assert_eq!(
        modules[0]["decision"]["reason"], "alice is not my concern",
        "{}",
        shown.text
    );
    assert_eq!(
        modules[1]["decision"]["decision"], "allow",
        "{}",
        shown.text
    );
    assert_eq!(
        modules[2]["decision"]["decision"], "allow",
        "{}",
        shown.text
    );

    let mallory = token("mallory", &["developers"]);
    let denied = wicket
        .call("POST", "/v1/requests", Some(&mallory), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    let reason = denied.json["error"]["message"].as_str().unwrap();
    assert!(reason.starts_with("module `groups`:"), "{reason}");

    let admin = token("root", &["wicket-admins"]);
    let policies = wicket.call("GET", "/v1/policies", Some(&admin), None).await;
    let chain = &policies.json["clusters"]["dev"]["chain"];
    assert_eq!(chain[0]["on_allow"], "sufficient", "{}", policies.text);
    assert_eq!(chain[0]["on_deny"], "continue", "{}", policies.text);
    assert_eq!(chain[1]["on_allow"], "continue", "{}", policies.text);
    assert_eq!(chain[0]["contract"], "0.2.0", "{}", policies.text);
    assert_eq!(chain[2]["contract"], "0.1.0", "{}", policies.text);
    assert_eq!(
        chain[2]["world"], "wicket:policy/relay-policy@0.1.0",
        "{}",
        policies.text
    );
    wicket.stop().await;
}

/// When every module abstains, nobody decided: the request is denied (fail closed), with
/// each module's reason, and nothing is created.
#[tokio::test]
async fn a_chain_in_which_every_module_abstains_denies() {
    let config = config_with(&[
        ("oncall", guests::ALLOW, "", ABSTAIN),
        ("platform", guests::ALLOW, SUFFICIENT, ABSTAIN),
    ]);
    let env = Env::start_with(&config, "1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let alice = token("alice", &["sre"]);
    let denied = wicket
        .call("POST", "/v1/requests", Some(&alice), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert_eq!(denied.json["error"]["code"], "denied");
    assert_eq!(
        denied.json["error"]["message"],
        "every module abstained (module `oncall`: alice is not my concern; \
         module `platform`: alice is not my concern)",
        "{}",
        denied.text
    );
    let id = denied.json["error"]["request_id"].as_str().unwrap();
    assert_eq!(wicket.state(id).await, "denied");
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    wicket.stop().await;
}

/// A sufficient module's allow ends the chain: the module after it (which would deny) is
/// skipped and says after whom, and the grant is provisioned.
#[tokio::test]
async fn a_sufficient_allow_ends_the_chain() {
    let config = config_with(&[
        ("oncall", guests::ALLOW, "", ABSTAIN),
        ("break-glass", guests::ALLOW, SUFFICIENT, ""),
        ("freeze", guests::DENY, "", ""),
    ]);
    let env = Env::start_with(&config, "1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let alice = token("alice", &["sre"]);
    let created = wicket
        .call("POST", "/v1/requests", Some(&alice), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["state"], "active");
    let id = created.json["id"].as_str().unwrap();
    let shown = wicket
        .call("GET", &format!("/v1/requests/{id}"), Some(&alice), None)
        .await;
    let modules = shown.json["modules"].as_array().unwrap();
    assert_eq!(modules[2]["module"], "freeze", "{}", shown.text);
    assert_eq!(modules[2]["skipped_after"], "break-glass", "{}", shown.text);
    assert_eq!(modules[2]["decision"], serde_json::Value::Null);
    assert!(
        !env.labelled_objects().await.is_empty(),
        "the grant is provisioned"
    );
    wicket.stop().await;
}
