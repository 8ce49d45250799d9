//! Attack tests of the host's guardrails, through the real HTTP API, kube-sim and real kubectl,
//! with Wicket holding only the shipped RBAC (`examples/deploy/wicket-rbac.yaml`). The chain is
//! one permissive module (the `allow` test guest: it allows whatever is asked, like a policy
//! line with `namespaces = ["*"]`), or the same guest granting more than was asked: whatever
//! a policy says, nothing outside the guardrails is provisioned.

use rstest::rstest;
use serde_json::{Value, json};
use wicket_tests::tokens::token;
use wicket_tests::{Env, Running, guests, kubectl};

/// The test configuration with one chain entry, `permissive`, running the `allow` guest in
/// `mode`.
fn permissive(mode: &str) -> String {
    let config = include_str!("../fixtures/wicket.toml");
    let head = &config[..config
        .find("[[clusters.policies]]")
        .expect("the configuration has a chain")];
    format!(
        "{head}[[clusters.policies]]\nname = \"permissive\"\nmodule = \"{}\"\n\
         settings = {{ mode = \"{mode}\" }}\n",
        guests::ALLOW
    )
}

async fn start(mode: &str) -> (Env, Running) {
    let env = Env::start_with(&permissive(mode), "1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    (env, wicket)
}

fn body(namespaces: &[&str], access: Value, cluster_rules: Value) -> String {
    let mut body = json!({
        "cluster": "dev", "namespaces": namespaces, "cluster_rules": cluster_rules,
        "duration": "10m", "reason": "INC-1: testing the guardrails",
    });
    for (key, value) in access.as_object().expect("role or rules") {
        body[key] = value.clone();
    }
    body.to_string()
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"api_groups": groups, "resources": resources, "verbs": verbs})
}

/// Asks as `mallory` (any group: the chain allows everyone) and expects a 403 denial whose
/// reason contains `expected`, with nothing provisioned anywhere.
async fn refused(env: &Env, wicket: &Running, body: &str, expected: &str) {
    let answer = wicket
        .call(
            "POST",
            "/v1/requests",
            Some(&token("mallory", &["sre"])),
            Some(body),
        )
        .await;
    assert_eq!(answer.status, 403, "{body}: {}", answer.text);
    assert_eq!(answer.json["error"]["code"], "denied", "{}", answer.text);
    assert!(
        answer.text.contains(expected),
        "{body}: `{expected}` not in {}",
        answer.text
    );
    assert_eq!(
        env.labelled_objects().await,
        Vec::<String>::new(),
        "nothing is provisioned for {body}"
    );
}

/// The escalation found in review: `edit` in Wicket's own namespace, then a token for Wicket's
/// ServiceAccount. It ends at the first step; and a legitimate `edit` elsewhere mints no token
/// for Wicket's account nor for the namespace's own accounts.
#[tokio::test]
async fn edit_in_wickets_own_namespace_ends_at_the_first_step() {
    let (env, wicket) = start("allow").await;
    refused(
        &env,
        &wicket,
        &body(&["wicket-system"], json!({"role": "edit"}), json!([])),
        "namespace `wicket-system` is protected",
    )
    .await;

    let alice = token("alice", &["sre"]);
    let (_, kubeconfig) = wicket
        .grant(
            &alice,
            &body(&["payments"], json!({"role": "edit"}), json!([])),
        )
        .await;
    let kubectl = kubectl::on_path(env.dir.path(), "alice", &kubeconfig);
    for (account, namespace) in [("wicket", "wicket-system"), ("default", "payments")] {
        let minted = kubectl
            .run(&["create", "token", account, "-n", namespace])
            .await;
        assert!(
            !minted.success,
            "edit minted a token for {namespace}/{account}"
        );
        assert!(minted.stderr.contains("forbidden"), "{}", minted.stderr);
    }
    for attempt in [
        vec![
            "create",
            "rolebinding",
            "x",
            "--clusterrole=admin",
            "--serviceaccount=payments:default",
            "-n",
            "payments",
        ],
        vec![
            "create",
            "clusterrolebinding",
            "x",
            "--clusterrole=cluster-admin",
            "--serviceaccount=payments:default",
        ],
        vec!["get", "secrets", "-n", "payments"],
    ] {
        let out = kubectl.run(&attempt).await;
        assert!(!out.success, "{attempt:?} succeeded");
        assert!(
            out.stderr.contains("forbidden"),
            "{attempt:?}: {}",
            out.stderr
        );
    }
}

#[rstest]
#[case::wicket_own("wicket-system")]
#[case::jit_accounts("wicket-jit")]
#[case::kube_system("kube-system")]
#[case::kube_public("kube-public")]
#[case::kube_node_lease("kube-node-lease")]
#[tokio::test]
async fn every_protected_namespace_is_refused_whatever_the_policy_says(#[case] namespace: &str) {
    let (env, wicket) = start("allow").await;
    refused(
        &env,
        &wicket,
        &body(&["payments", namespace], json!({"role": "view"}), json!([])),
        &format!("namespace `{namespace}` is protected"),
    )
    .await;
}

#[rstest]
#[case::token(rule(&[""], &["serviceaccounts/token"], &["create"]), "serviceaccounts/token")]
#[case::secrets(rule(&[""], &["secrets"], &["get"]), "`secrets`")]
#[case::impersonate(rule(&[""], &["serviceaccounts"], &["impersonate"]), "the verb `impersonate`")]
#[case::bind(rule(&["rbac.authorization.k8s.io"], &["clusterroles"], &["bind"]), "the verb `bind`")]
#[case::escalate(rule(&["rbac.authorization.k8s.io"], &["roles"], &["escalate"]), "the verb `escalate`")]
#[case::rbac_write(rule(&["rbac.authorization.k8s.io"], &["rolebindings"], &["create"]), "writes to `rbac.authorization.k8s.io`")]
#[case::all_verbs(rule(&[""], &["pods"], &["*"]), "`*` in its verbs")]
#[case::all_resources(rule(&[""], &["*"], &["get"]), "`*` in its resources")]
#[case::all_groups(rule(&["*"], &["pods"], &["get"]), "`*` in its API groups")]
#[case::csr(rule(&["certificates.k8s.io"], &["certificatesigningrequests"], &["create"]), "certificatesigningrequests")]
#[case::node_proxy(rule(&[""], &["nodes/proxy"], &["get"]), "nodes/proxy")]
#[tokio::test]
async fn every_rule_never_granted_is_refused_whatever_the_policy_says(
    #[case] rule: Value,
    #[case] expected: &str,
) {
    let (env, wicket) = start("allow").await;
    refused(
        &env,
        &wicket,
        &body(&["payments"], json!({ "rules": [rule.clone()] }), json!([])),
        expected,
    )
    .await;
    refused(
        &env,
        &wicket,
        &body(&[], json!({}), json!([rule])),
        expected,
    )
    .await;
}

#[rstest]
#[case::cluster_admin("cluster-admin")]
#[case::upstream_edit_by_its_cluster_role("edit-upstream")]
#[case::the_bound_cluster_role_by_name("wicket-admin")]
#[tokio::test]
async fn roles_outside_the_allowlist_are_refused(#[case] role: &str) {
    let (env, wicket) = start("allow").await;
    refused(
        &env,
        &wicket,
        &body(&["payments"], json!({ "role": role }), json!([])),
        &format!("role `{role}` is not bindable"),
    )
    .await;
}

#[rstest]
#[case::namespaced(rule(&[""], &["pods"], &["list"]), "a namespaced resource")]
#[case::unknown(rule(&["example.com"], &["widgets"], &["list"]), "which the cluster does not serve")]
#[tokio::test]
async fn cluster_rules_are_refused_unless_cluster_scoped(
    #[case] rule: Value,
    #[case] expected: &str,
) {
    let (env, wicket) = start("allow").await;
    refused(
        &env,
        &wicket,
        &body(&[], json!({}), json!([rule])),
        expected,
    )
    .await;
}

#[tokio::test]
async fn a_cluster_rule_on_a_cluster_scoped_resource_is_granted() {
    let (env, wicket) = start("allow").await;
    let alice = token("alice", &["sre"]);
    let cluster_rule = json!([rule(&[""], &["namespaces"], &["list"])]);
    let (_, kubeconfig) = wicket
        .grant(&alice, &body(&[], json!({}), cluster_rule))
        .await;
    let kubectl = kubectl::on_path(env.dir.path(), "alice", &kubeconfig);
    kubectl
        .check_can_i(
            "list-namespaces  list  namespaces  -         yes
             list-pods        list  pods        payments  no",
        )
        .await;
}

/// A module answering a request for `view` in `payments` with `admin` there and in
/// `kube-system`, `edit` in `wicket-system` and a cluster rule creating ClusterRoleBindings:
/// denied, naming the module, and nothing is provisioned.
#[tokio::test]
async fn an_over_granting_module_is_denied_naming_it() {
    let (env, wicket) = start("over_grant").await;
    refused(
        &env,
        &wicket,
        &body(&["payments"], json!({"role": "view"}), json!([])),
        "module `permissive` failed: malformed decision: the grant is wider than the request",
    )
    .await;
}

/// `edit` runs pods: in a namespace whose Pod Security admission does not refuse privileged
/// pods (`default` here carries no `pod-security.kubernetes.io/enforce` label), a privileged pod
/// would own its node and every token on it. Refused there; `view` is granted there, and
/// `edit` where the namespace enforces `baseline`.
#[tokio::test]
async fn edit_is_refused_where_pod_security_is_not_enforced() {
    let (env, wicket) = start("allow").await;
    refused(
        &env,
        &wicket,
        &body(&["default"], json!({"role": "edit"}), json!([])),
        "namespace `default` does not enforce Pod Security `baseline`",
    )
    .await;
    let alice = token("alice", &["sre"]);
    wicket
        .grant(
            &alice,
            &body(&["default"], json!({"role": "view"}), json!([])),
        )
        .await;
    wicket
        .grant(
            &alice,
            &body(&["payments"], json!({"role": "edit"}), json!([])),
        )
        .await;
}

/// Wicket's review of its own identity fails closed: while the cluster cannot answer it (here
/// every SelfSubjectAccessReview fails), the cluster's requests are denied; once a review on
/// the request path passes, they are decided as usual.
#[tokio::test]
async fn a_cluster_whose_review_cannot_run_denies_until_it_passes() {
    let env = Env::start_with(&permissive("allow"), "1h").await;
    let fault = env.sim.faults().add(
        kube_sim::FaultRule::new(kube_sim::FaultAction::Fail {
            code: 500,
            reason: "InternalError".into(),
            message: "injected".into(),
        })
        .verb("create")
        .resource("selfsubjectaccessreviews"),
    );
    let wicket = env.serve(env.wasm_chain()).await;
    let view = body(&["payments"], json!({"role": "view"}), json!([]));
    refused(&env, &wicket, &view, "could not be reviewed yet").await;
    env.sim.faults().remove(fault);
    let alice = token("alice", &["sre"]);
    wicket_tests::wait_for(
        "a review that passes",
        std::time::Duration::from_secs(120),
        || {
            let (wicket, alice, view) = (&wicket, &alice, &view);
            async move {
                let answer = wicket
                    .call("POST", "/v1/requests", Some(alice), Some(view))
                    .await;
                answer.status == 201
            }
        },
    )
    .await;
}
