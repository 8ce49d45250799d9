//! Whose objects, whose grants: a second Wicket installation on the same cluster (its own
//! database, the same kube-sim, cluster entry name and JIT namespace) never touches the first
//! one's grants, and the operator can still find and delete one installation's objects by label
//! with kubectl; the admin kill switch ends every grant in its scope (real kubectl gets 401) and
//! leaves the others, and is refused to everyone else.

use std::collections::BTreeMap;

use serde_json::json;
use wicket_tests::kubectl::{self, Kubectl};
use wicket_tests::tokens::{ISSUER, token};
use wicket_tests::{Env, Running};

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");
const VIEW_ORDERS: &str = r#"{"cluster": "dev", "namespaces": ["orders"], "role": "view",
    "duration": "30m", "reason": "looking at orders"}"#;

/// Asks `wicket` for `body` as `who`, fetches the kubeconfig and checks that kubectl can use it
/// in `namespace`. Returns the request id and kubectl bound to that kubeconfig.
async fn grant(
    env: &Env,
    wicket: &Running,
    who: &str,
    body: &str,
    namespace: &str,
    name: &str,
) -> (String, Kubectl) {
    let bearer = token(who, &["sre"]);
    let created = wicket
        .call("POST", "/v1/requests", Some(&bearer), Some(body))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let issued = wicket
        .call(
            "GET",
            &format!("/v1/requests/{id}/kubeconfig"),
            Some(&bearer),
            None,
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let kubectl = kubectl::on_path(env.dir.path(), name, &issued.text);
    works(&kubectl, namespace).await;
    (id, kubectl)
}

async fn works(kubectl: &Kubectl, namespace: &str) {
    let out = kubectl.run(&["get", "pods", "-n", namespace]).await;
    assert!(out.success, "get pods in {namespace}: {}", out.stderr);
}

async fn unauthorized(kubectl: &Kubectl, namespace: &str) {
    let out = kubectl.run(&["get", "pods", "-n", namespace]).await;
    assert!(!out.success, "the grant must be gone");
    assert!(
        out.stderr.contains("Unauthorized") || out.stderr.contains("401"),
        "{}",
        out.stderr
    );
}

/// The installation label of every Wicket object, by object.
fn installations(env: &Env) -> BTreeMap<String, String> {
    env.wicket_objects()
        .into_iter()
        .map(|(object, labels)| {
            assert_eq!(labels["wicket.dev/cluster"], "dev", "{object}");
            let installation = labels["wicket.dev/installation"].clone();
            (object, installation)
        })
        .collect()
}

#[tokio::test]
async fn a_second_installation_on_the_same_cluster_leaves_the_first_ones_grants_alone() {
    let env = Env::start("1h").await;
    let first = env.serve(env.wasm_chain()).await;
    let first_id = first.service.workflow().store().installation().to_owned();
    let (id, alice) = grant(&env, &first, "alice", EDIT_PAYMENTS, "payments", "alice").await;
    let labelled = installations(&env);
    assert_eq!(labelled.len(), 2, "{labelled:?}");
    assert!(labelled.values().all(|i| *i == first_id), "{labelled:?}");

    // Another Wicket with its own database on the same cluster, the same cluster entry name
    // and JIT namespace: its start-up sweep and later sweeps find none of the first's objects.
    let second = env
        .serve_with(&env.other_installation("second"), env.wasm_chain())
        .await;
    let second_id = second.service.workflow().store().installation().to_owned();
    assert_ne!(second_id, first_id, "each database is its own installation");
    let sweep = second.service.workflow().reconcile().await.unwrap();
    assert_eq!(sweep.deleted, 0, "{sweep:?}");
    assert_eq!(first.state(&id).await, "active");
    works(&alice, "payments").await;

    // The second installation's own grant, and the first's sweep leaves it alone too.
    let (other, carol) = grant(&env, &second, "carol", VIEW_ORDERS, "orders", "carol").await;
    let sweep = first.service.workflow().reconcile().await.unwrap();
    assert_eq!(sweep.deleted, 0, "{sweep:?}");
    let sweep = second.service.workflow().reconcile().await.unwrap();
    assert_eq!(sweep.deleted, 0, "{sweep:?}");
    works(&alice, "payments").await;
    works(&carol, "orders").await;
    assert_eq!(first.state(&id).await, "active");
    assert_eq!(second.state(&other).await, "active");
    let labelled = installations(&env);
    assert_eq!(
        labelled.values().filter(|i| **i == second_id).count(),
        2,
        "{labelled:?}"
    );

    // Break glass: with Wicket out of the way, an operator finds and deletes one
    // installation's objects by label with kubectl, ServiceAccounts first.
    let admin = Kubectl::new(
        &kube_sim::kubectl::on_path().expect("kubectl on PATH"),
        env.dir.path(),
        "cluster-admin",
        &env.sim.kubeconfig("admin").expect("the admin kubeconfig"),
    );
    let selector = format!("wicket.dev/installation={second_id}");
    let listed = admin
        .ok(&[
            "get",
            "serviceaccounts,rolebindings,roles,clusterrolebindings,clusterroles",
            "-A",
            "-l",
            &selector,
            "-o",
            "name",
        ])
        .await;
    assert_eq!(listed.lines().count(), 2, "{listed}");
    admin
        .ok(&[
            "delete",
            "serviceaccounts,rolebindings,roles,clusterrolebindings,clusterroles",
            "-A",
            "-l",
            &selector,
        ])
        .await;
    unauthorized(&carol, "orders").await;
    works(&alice, "payments").await;
    assert!(installations(&env).values().all(|i| *i == first_id));
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn the_kill_switch_ends_every_grant_in_scope_and_only_for_admins() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let (alice_id, alice) = grant(&env, &wicket, "alice", EDIT_PAYMENTS, "payments", "a").await;
    let (carol_id, carol) = grant(&env, &wicket, "carol", VIEW_ORDERS, "orders", "c").await;
    let store = wicket.service.workflow().store().clone();
    let kill_switches = || async {
        store
            .audit_events(0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "kill_switch")
            .collect::<Vec<_>>()
    };

    // Not an admin: 403, and nothing changes.
    let mallory = token("mallory", &["sre", "auditors"]);
    let refused = wicket
        .call(
            "POST",
            "/v1/revocations",
            Some(&mallory),
            Some(r#"{"all":true}"#),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "forbidden");
    works(&alice, "payments").await;
    works(&carol, "orders").await;
    assert_eq!(wicket.state(&alice_id).await, "active");
    assert_eq!(wicket.state(&carol_id).await, "active");
    assert!(kill_switches().await.is_empty());

    // An admin ends every grant of one subject: alice's kubeconfig dies, carol's works.
    let root = token("root", &["wicket-admins"]);
    let scope = json!({"subject": {"issuer": ISSUER, "sub": "alice"}}).to_string();
    let done = wicket
        .call("POST", "/v1/revocations", Some(&root), Some(&scope))
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json["revoked"][0]["id"], alice_id.as_str());
    assert_eq!(done.json["revoked"].as_array().unwrap().len(), 1);
    assert_eq!(done.json["failed"], json!([]));
    unauthorized(&alice, "payments").await;
    works(&carol, "orders").await;
    assert_eq!(wicket.state(&alice_id).await, "revoked");
    assert_eq!(wicket.state(&carol_id).await, "active");
    let events = store.audit_events_of(&alice_id, 100).await.unwrap();
    let revoked = events
        .iter()
        .find(|e| e.kind == "state_changed" && e.details["to"] == "revoked")
        .expect("alice's revocation is audited");
    assert_eq!(revoked.actor["subject"], "root");
    assert!(
        revoked.details["note"]
            .as_str()
            .unwrap()
            .starts_with("kill switch"),
        "{}",
        revoked.details
    );
    assert!(
        events
            .iter()
            .any(|e| e.kind == "object_deleted" && e.details["object"]["kind"] == "ServiceAccount")
    );
    let calls = kill_switches().await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].actor["subject"], "root");
    assert_eq!(calls[0].details["scope"]["subject"]["sub"], "alice");
    assert_eq!(calls[0].details["revoked"], 1);

    // Then the whole cluster: carol's grant ends too, and nothing of Wicket's is left.
    let done = wicket
        .call(
            "POST",
            "/v1/revocations",
            Some(&root),
            Some(r#"{"cluster":"dev"}"#),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json["revoked"][0]["id"], carol_id.as_str());
    unauthorized(&carol, "orders").await;
    assert_eq!(wicket.state(&carol_id).await, "revoked");
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    assert_eq!(kill_switches().await.len(), 2);
    wicket.stop().await;
}
