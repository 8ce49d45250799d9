//! The cluster room against kube-sim: provisioning as Wicket's production identity
//! (`examples/deploy/wicket-rbac.yaml`), the issued kubeconfig used by real kubectl and kube-rs,
//! teardown, idempotent retries, rollback of every failed step, and grants beyond Wicket's own
//! permissions.

mod cluster_env;

use std::time::Duration;

use cluster_env::{INSTALLATION, env, kubectl_binary, labelled, rule, spec};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::Api;
use kube::api::{ListParams, PostParams};
use kube_sim::kubectl::Kubectl;
use kube_sim::{FaultAction, FaultRule};
use rstest::rstest;
use wicket::cluster::{
    ClusterTarget, Connection, Error, Outcome, ProvisionStep, StepFailure, TargetSettings,
};
use wicket::domain::{Access, Kind, ObjectRef};

const EDIT_CAN_I: &str = include_str!("fixtures/cluster/edit-can-i.txt");
const RULES_CAN_I: &str = include_str!("fixtures/cluster/rules-can-i.txt");

/// The API status of a kube-rs call that must fail.
fn status_of<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(s)) => (s.code, s.reason),
        other => panic!("expected an api error, got {other:?}"),
    }
}

#[tokio::test]
async fn edit_grant_works_with_real_kubectl_until_teardown() {
    let env = env(&["payments", "billing"]).await;
    let s = spec(
        "r1",
        vec![("payments", Access::Role("wicket-edit".into()))],
        vec![],
    );
    let provisioned = env.wicket.provision(&s).await.expect("provision");

    // The objects: a ServiceAccount and a RoleBinding to `edit`, nothing else.
    assert_eq!(
        provisioned.service_account,
        ObjectRef::service_account("wicket-jit", "wicket-r1")
    );
    let steps: Vec<_> = provisioned
        .objects
        .iter()
        .map(|r| (r.step, r.outcome))
        .collect();
    assert_eq!(
        steps,
        [
            (ProvisionStep::ServiceAccount, Outcome::Created),
            (ProvisionStep::RoleBinding, Outcome::Created)
        ]
    );
    let mut found = labelled(&env.admin, "r1").await;
    found.sort();
    assert_eq!(
        found,
        [
            "RoleBinding payments/wicket-r1",
            "ServiceAccount wicket-jit/wicket-r1"
        ]
    );
    let sa = Api::<ServiceAccount>::namespaced(env.admin.clone(), "wicket-jit")
        .get("wicket-r1")
        .await
        .unwrap();
    let labels = sa.metadata.labels.unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "wicket");
    assert_eq!(labels["wicket.dev/request"], "r1");
    let annotations = sa.metadata.annotations.unwrap();
    assert_eq!(annotations["wicket.dev/requester"], "alice@example.com");
    assert_eq!(
        annotations["wicket.dev/reason"],
        "INC-123: payments are failing"
    );
    assert_eq!(
        annotations["wicket.dev/expires-at"],
        s.expires_at.to_string()
    );
    let rb = Api::<RoleBinding>::namespaced(env.admin.clone(), "payments")
        .get("wicket-r1")
        .await
        .unwrap();
    assert_eq!(
        (rb.role_ref.kind.as_str(), rb.role_ref.name.as_str()),
        ("ClusterRole", "wicket-edit")
    );
    let subjects = rb.subjects.unwrap();
    assert_eq!(subjects.len(), 1);
    assert_eq!(
        (
            subjects[0].kind.as_str(),
            subjects[0].name.as_str(),
            subjects[0].namespace.as_deref()
        ),
        ("ServiceAccount", "wicket-r1", Some("wicket-jit"))
    );
    assert_eq!(
        rb.metadata.annotations.unwrap()["wicket.dev/expires-at"],
        s.expires_at.to_string()
    );

    // The credential: a token living at least the API minimum, a context for the namespace.
    let credential = &provisioned.credential;
    assert_eq!(credential.context, "sim-payments");
    assert_eq!(credential.namespace.as_deref(), Some("payments"));
    assert!(credential.token_expires_at >= s.expires_at - jiff::SignedDuration::from_secs(60));
    assert!(
        !format!("{provisioned:?}").contains(credential.token.expose()),
        "the token leaked into Debug"
    );

    // kube-rs with the issued kubeconfig: payments allowed, kube-system forbidden.
    let user = cluster_env::client(credential.kubeconfig.expose()).await;
    Api::<Pod>::namespaced(user.clone(), "payments")
        .list(&ListParams::default())
        .await
        .expect("list pods");
    let denied = Api::<Pod>::namespaced(user.clone(), "kube-system")
        .list(&ListParams::default())
        .await;
    assert_eq!(status_of(denied), (403, "Forbidden".to_owned()));

    let k = Kubectl::new(
        &kubectl_binary(),
        env.dir.path(),
        "user",
        credential.kubeconfig.expose(),
    );
    let out = k.run(&["get", "pods"]).await; // the context's default namespace: payments
    assert!(out.success, "kubectl get pods failed: {}", out.stderr);
    let out = k.run(&["get", "pods", "-n", "payments"]).await;
    assert!(
        out.success,
        "kubectl get pods -n payments failed: {}",
        out.stderr
    );
    // `edit` no longer mints tokens for the namespace's other ServiceAccounts (upstream's
    // `edit` would: `create serviceaccounts/token`).
    let out = k
        .run(&["create", "token", "default", "-n", "payments"])
        .await;
    assert!(!out.success, "an edit grant minted a token: {}", out.stdout);
    assert!(
        out.stderr
            .contains("cannot create resource \"serviceaccounts/token\""),
        "{}",
        out.stderr
    );
    let out = k.run(&["get", "pods", "-n", "kube-system"]).await;
    assert!(!out.success);
    assert!(
        out.stderr.contains(
            "pods is forbidden: User \"system:serviceaccount:wicket-jit:wicket-r1\" cannot list resource \"pods\" in API group \"\" in the namespace \"kube-system\""
        ),
        "{}",
        out.stderr
    );
    k.check_can_i(EDIT_CAN_I).await;

    // Teardown: the ServiceAccount goes first, the token stops working, nothing is left.
    let report = env
        .wicket
        .teardown(INSTALLATION, "r1")
        .await
        .expect("teardown");
    assert_eq!(
        report.deleted,
        [
            ObjectRef::service_account("wicket-jit", "wicket-r1"),
            ObjectRef::role_binding("payments", "wicket-r1")
        ]
    );
    let after = Api::<Pod>::namespaced(user, "payments")
        .list(&ListParams::default())
        .await;
    assert_eq!(status_of(after), (401, "Unauthorized".to_owned()));
    let out = k.run(&["get", "pods", "-n", "payments"]).await;
    assert!(!out.success);
    assert!(out.stderr.contains("Unauthorized"), "{}", out.stderr);
    assert!(labelled(&env.admin, "r1").await.is_empty());
    assert!(
        env.wicket
            .list_managed(INSTALLATION)
            .await
            .unwrap()
            .is_empty()
    );

    // Idempotent: a second teardown finds nothing and succeeds.
    assert!(
        env.wicket
            .teardown(INSTALLATION, "r1")
            .await
            .unwrap()
            .deleted
            .is_empty()
    );
}

#[tokio::test]
async fn explicit_and_cluster_rules_get_a_role_and_a_cluster_role() {
    let env = env(&["payments"]).await;
    let rules = vec![rule(&["pods", "pods/log"], &["get", "list"])];
    let s = spec(
        "r2",
        vec![("payments", Access::Rules(rules))],
        vec![rule(&["namespaces"], &["get", "list"])],
    );
    let provisioned = env.wicket.provision(&s).await.expect("provision");
    let steps: Vec<_> = provisioned.objects.iter().map(|r| r.step).collect();
    assert_eq!(
        steps,
        [
            ProvisionStep::ServiceAccount,
            ProvisionStep::Role,
            ProvisionStep::RoleBinding,
            ProvisionStep::ClusterRole,
            ProvisionStep::ClusterRoleBinding
        ]
    );
    let role = Api::<Role>::namespaced(env.admin.clone(), "payments")
        .get("wicket-r2")
        .await
        .unwrap();
    let rules = role.rules.unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].verbs, ["get", "list"]);
    assert_eq!(rules[0].resources.as_deref().unwrap(), ["pods", "pods/log"]);
    let rb = Api::<RoleBinding>::namespaced(env.admin.clone(), "payments")
        .get("wicket-r2")
        .await
        .unwrap();
    assert_eq!(
        (rb.role_ref.kind.as_str(), rb.role_ref.name.as_str()),
        ("Role", "wicket-r2")
    );
    let cr = Api::<ClusterRole>::all(env.admin.clone())
        .get("wicket-r2")
        .await
        .unwrap();
    assert_eq!(
        cr.rules.unwrap()[0].resources.as_deref().unwrap(),
        ["namespaces"]
    );
    assert_eq!(cr.metadata.labels.unwrap()["wicket.dev/request"], "r2");
    let crb = Api::<ClusterRoleBinding>::all(env.admin.clone())
        .get("wicket-r2")
        .await
        .unwrap();
    assert_eq!(
        (crb.role_ref.kind.as_str(), crb.role_ref.name.as_str()),
        ("ClusterRole", "wicket-r2")
    );

    let user = cluster_env::client(provisioned.credential.kubeconfig.expose()).await;
    Api::<Pod>::namespaced(user.clone(), "payments")
        .list(&ListParams::default())
        .await
        .expect("list pods");
    let pod: Pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}})).unwrap();
    let create = Api::<Pod>::namespaced(user.clone(), "payments")
        .create(&PostParams::default(), &pod)
        .await;
    assert_eq!(status_of(create), (403, "Forbidden".to_owned()));
    let k = Kubectl::new(
        &kubectl_binary(),
        env.dir.path(),
        "user",
        provisioned.credential.kubeconfig.expose(),
    );
    let out = k.run(&["get", "namespaces"]).await;
    assert!(out.success, "kubectl get namespaces failed: {}", out.stderr);
    assert!(out.stdout.contains("payments"), "{}", out.stdout);
    k.check_can_i(RULES_CAN_I).await;

    let managed = env.wicket.list_managed(INSTALLATION).await.unwrap();
    assert_eq!(managed.len(), 5, "{managed:?}");
    assert!(
        managed
            .iter()
            .all(|m| m.request_id.as_deref() == Some("r2"))
    );
    assert!(managed.iter().all(|m| m.expires_at == Some(s.expires_at)));

    let report = env
        .wicket
        .teardown(INSTALLATION, "r2")
        .await
        .expect("teardown");
    let kinds: Vec<_> = report.deleted.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [
            Kind::ServiceAccount,
            Kind::RoleBinding,
            Kind::Role,
            Kind::ClusterRoleBinding,
            Kind::ClusterRole
        ]
    );
    assert!(labelled(&env.admin, "r2").await.is_empty());
}

#[tokio::test]
async fn a_cluster_only_grant_gets_a_context_without_namespace() {
    let env = env(&[]).await;
    let s = spec("r3", vec![], vec![rule(&["namespaces"], &["list"])]);
    let provisioned = env.wicket.provision(&s).await.expect("provision");
    assert_eq!(provisioned.credential.context, "sim");
    assert_eq!(provisioned.credential.namespace, None);
    let user = cluster_env::client(provisioned.credential.kubeconfig.expose()).await;
    let list = Api::<k8s_openapi::api::core::v1::Namespace>::all(user)
        .list(&ListParams::default())
        .await;
    assert!(
        list.expect("list namespaces")
            .items
            .iter()
            .any(|n| n.metadata.name.as_deref() == Some("wicket-system"))
    );
}

#[tokio::test]
async fn a_retry_adopts_what_an_earlier_attempt_created() {
    let env = env(&["payments"]).await;
    let s = spec(
        "r4",
        vec![("payments", Access::Rules(vec![rule(&["pods"], &["get"])]))],
        vec![],
    );
    let first = env.wicket.provision(&s).await.expect("first");
    let uid = |env: &cluster_env::Env| {
        let api = Api::<ServiceAccount>::namespaced(env.admin.clone(), "wicket-jit");
        async move { api.get("wicket-r4").await.unwrap().metadata.uid.unwrap() }
    };
    let uid_before = uid(&env).await;
    let second = env.wicket.provision(&s).await.expect("retry");
    assert!(first.objects.iter().all(|r| r.outcome == Outcome::Created));
    assert!(
        second.objects.iter().all(|r| r.outcome == Outcome::Adopted),
        "{:?}",
        second.objects
    );
    let objects = |p: &wicket::cluster::Provisioned| {
        p.objects
            .iter()
            .map(|r| r.object.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(objects(&first), objects(&second));
    assert_eq!(
        uid(&env).await,
        uid_before,
        "the retry must not re-create the ServiceAccount"
    );
    assert_eq!(labelled(&env.admin, "r4").await.len(), 3);
    // Both credentials work: both are tokens of the same account.
    for p in [&first, &second] {
        let user = cluster_env::client(p.credential.kubeconfig.expose()).await;
        Api::<Pod>::namespaced(user, "payments")
            .get_opt("none")
            .await
            .expect("get pod");
    }
}

#[tokio::test]
async fn a_foreign_object_is_never_adopted_and_the_grant_rolls_back() {
    let env = env(&["payments"]).await;
    let foreign: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "wicket-r5", "namespace": "payments"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": "bob", "apiGroup": "rbac.authorization.k8s.io"}],
    }))
    .unwrap();
    let rbs = Api::<RoleBinding>::namespaced(env.admin.clone(), "payments");
    rbs.create(&PostParams::default(), &foreign).await.unwrap();
    let s = spec(
        "r5",
        vec![("payments", Access::Role("wicket-view".into()))],
        vec![],
    );
    let err = env.wicket.provision(&s).await.unwrap_err();
    let Error::Provision(failure) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failure.step, ProvisionStep::RoleBinding);
    assert!(
        matches!(failure.source, StepFailure::Foreign),
        "{:?}",
        failure.source
    );
    assert_eq!(
        failure.rolled_back,
        [ObjectRef::service_account("wicket-jit", "wicket-r5")]
    );
    assert!(labelled(&env.admin, "r5").await.is_empty());
    let still = rbs
        .get("wicket-r5")
        .await
        .expect("the foreign binding must be left alone");
    assert_eq!(still.subjects.unwrap()[0].name, "bob");
}

/// A grant that exercises every step: Role + RoleBinding in payments, ClusterRole + binding.
fn full_spec(id: &str) -> wicket::cluster::ProvisionSpec {
    spec(
        id,
        vec![(
            "payments",
            Access::Rules(vec![rule(&["pods"], &["get", "list"])]),
        )],
        vec![rule(&["namespaces"], &["get"])],
    )
}

#[rstest]
#[case::service_account(ProvisionStep::ServiceAccount, "serviceaccounts", 0)]
#[case::role(ProvisionStep::Role, "roles", 1)]
#[case::role_binding(ProvisionStep::RoleBinding, "rolebindings", 2)]
#[case::cluster_role(ProvisionStep::ClusterRole, "clusterroles", 3)]
#[case::cluster_role_binding(ProvisionStep::ClusterRoleBinding, "clusterrolebindings", 4)]
#[case::token_request(ProvisionStep::TokenRequest, "serviceaccounts/token", 5)]
#[tokio::test]
async fn a_failing_step_is_named_and_everything_is_rolled_back(
    #[case] step: ProvisionStep,
    #[case] resource: &str,
    #[case] created_before: usize,
) {
    let env = env(&["payments"]).await;
    env.sim.faults().add(
        FaultRule::new(FaultAction::Fail {
            code: 500,
            reason: "InternalError".into(),
            message: format!("injected failure on {resource}"),
        })
        .verb("create")
        .resource(resource),
    );
    let err = env.wicket.provision(&full_spec("r6")).await.unwrap_err();
    assert_eq!(err.step(), Some(step), "{err:?}");
    assert_eq!(err.status(), Some((500, "InternalError")));
    assert!(
        err.to_string()
            .starts_with(&format!("provisioning step `{step}` failed on ")),
        "{err}"
    );
    let Error::Provision(failure) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        failure.rolled_back.len(),
        created_before,
        "{:?}",
        failure.rolled_back
    );
    assert!(failure.left_behind.is_empty());
    if let Some(first_created) = failure.rolled_back.last() {
        assert_eq!(
            first_created.kind,
            Kind::ServiceAccount,
            "the ServiceAccount was created first, so rolled back last"
        );
    }
    assert!(
        labelled(&env.admin, "r6").await.is_empty(),
        "{:?}",
        labelled(&env.admin, "r6").await
    );

    // Once the fault is gone, the same request provisions cleanly.
    env.sim.faults().clear();
    let provisioned = env
        .wicket
        .provision(&full_spec("r6"))
        .await
        .expect("provision after the fault");
    assert!(
        provisioned
            .objects
            .iter()
            .all(|r| r.outcome == Outcome::Created)
    );
}

#[rstest]
#[case::role_wicket_cannot_bind(
    spec("r7", vec![("payments", Access::Role("cluster-admin".into()))], vec![]),
    ProvisionStep::RoleBinding
)]
#[case::rules_beyond_the_ceiling(
    spec("r7", vec![("payments", Access::Rules(vec![rule(&["secrets"], &["get"])]))], vec![]),
    ProvisionStep::Role
)]
#[case::cluster_rules_beyond_the_ceiling(
    spec("r7", vec![("payments", Access::Role("wicket-view".into()))], vec![rule(&["namespaces"], &["delete"])]),
    ProvisionStep::ClusterRole
)]
#[tokio::test]
async fn a_grant_beyond_wickets_own_permissions_is_forbidden_and_rolled_back(
    #[case] s: wicket::cluster::ProvisionSpec,
    #[case] step: ProvisionStep,
) {
    let env = env(&["payments"]).await;
    let err = env.wicket.provision(&s).await.unwrap_err();
    assert_eq!(err.step(), Some(step), "{err:?}");
    assert_eq!(err.status(), Some((403, "Forbidden")), "{err:?}");
    let Error::Provision(failure) = &err else {
        panic!("{err:?}")
    };
    let StepFailure::Api(api) = &failure.source else {
        panic!("{:?}", failure.source)
    };
    assert!(
        api.to_string()
            .contains("system:serviceaccount:wicket-system:wicket"),
        "{api}"
    );
    assert!(failure.left_behind.is_empty());
    assert!(labelled(&env.admin, "r7").await.is_empty());
}

#[tokio::test]
async fn credentials_are_issued_only_for_live_grants_of_the_request() {
    let env = env(&["payments"]).await;
    let err = env
        .wicket
        .issue_credential(INSTALLATION, "nope", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some((404, "NotFound")), "{err:?}");
    assert_eq!(err.step(), Some(ProvisionStep::TokenRequest));

    let s = spec(
        "r8",
        vec![("payments", Access::Role("wicket-view".into()))],
        vec![],
    );
    env.wicket.provision(&s).await.expect("provision");
    let again = env
        .wicket
        .issue_credential(INSTALLATION, "r8", Duration::from_secs(60))
        .await
        .expect("re-issue");
    assert_eq!(again.context, "sim-payments");
    let lifetime = again
        .token_expires_at
        .duration_since(jiff::Timestamp::now());
    assert!(
        lifetime >= jiff::SignedDuration::from_secs(540),
        "the token lives at least the API minimum: {lifetime}"
    );
    let user = cluster_env::client(again.kubeconfig.expose()).await;
    Api::<Pod>::namespaced(user.clone(), "payments")
        .list(&ListParams::default())
        .await
        .expect("list pods");

    env.wicket
        .teardown(INSTALLATION, "r8")
        .await
        .expect("teardown");
    let after = Api::<Pod>::namespaced(user, "payments")
        .list(&ListParams::default())
        .await;
    assert_eq!(status_of(after), (401, "Unauthorized".to_owned()));
    let err = env
        .wicket
        .issue_credential(INSTALLATION, "r8", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some((404, "NotFound")));
}

#[tokio::test]
async fn teardown_touches_only_its_own_request() {
    let env = env(&["payments"]).await;
    env.wicket
        .provision(&full_spec("keep"))
        .await
        .expect("keep");
    env.wicket
        .provision(&full_spec("drop"))
        .await
        .expect("drop");
    let report = env
        .wicket
        .teardown(INSTALLATION, "drop")
        .await
        .expect("teardown");
    assert_eq!(report.deleted.len(), 5);
    assert!(report.deleted.iter().all(|o| o.name == "wicket-drop"));
    assert_eq!(labelled(&env.admin, "keep").await.len(), 5);
    let managed = env.wicket.list_managed(INSTALLATION).await.unwrap();
    assert_eq!(managed.len(), 5);
    assert!(
        managed
            .iter()
            .all(|m| m.request_id.as_deref() == Some("keep"))
    );
}

#[tokio::test]
async fn a_failing_delete_is_reported_and_the_rest_still_goes() {
    let env = env(&["payments"]).await;
    env.wicket
        .provision(&full_spec("r9"))
        .await
        .expect("provision");
    let fault = env.sim.faults().add(
        FaultRule::new(FaultAction::Fail {
            code: 500,
            reason: "InternalError".into(),
            message: "injected".into(),
        })
        .verb("delete")
        .resource("rolebindings"),
    );
    let err = env.wicket.teardown(INSTALLATION, "r9").await.unwrap_err();
    let Error::Teardown {
        deleted, failures, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        deleted[0],
        ObjectRef::service_account("wicket-jit", "wicket-r9"),
        "the ServiceAccount goes first"
    );
    assert_eq!(deleted.len(), 4);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].what, "RoleBinding `payments/wicket-r9`");
    assert_eq!(err.status(), Some((500, "InternalError")));
    assert_eq!(
        labelled(&env.admin, "r9").await,
        ["RoleBinding payments/wicket-r9"]
    );

    env.sim.faults().remove(fault);
    let report = env
        .wicket
        .teardown(INSTALLATION, "r9")
        .await
        .expect("retry");
    assert_eq!(
        report.deleted,
        [ObjectRef::role_binding("payments", "wicket-r9")]
    );
    assert!(labelled(&env.admin, "r9").await.is_empty());
}

#[tokio::test]
async fn the_preflight_sees_wickets_own_permissions() {
    let env = env(&["payments"]).await;
    let missing = env.wicket.missing_permissions().await.expect("preflight");
    assert!(
        missing.is_empty(),
        "the shipped RBAC must cover every need: {missing:?}"
    );

    // An identity without Wicket's RBAC lacks every permission.
    let bare: ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "bare"}})).unwrap();
    Api::<ServiceAccount>::namespaced(env.admin.clone(), "wicket-system")
        .create(&PostParams::default(), &bare)
        .await
        .unwrap();
    let token = env.sim.token_for("wicket-system", "bare", 3600).unwrap();
    let path = env.dir.path().join("bare.kubeconfig");
    std::fs::write(
        &path,
        env.sim.kubeconfig_with_token("bare", &token).unwrap(),
    )
    .unwrap();
    let settings = TargetSettings::new(
        "sim",
        Connection::Kubeconfig {
            path,
            context: None,
        },
    );
    let bare = ClusterTarget::connect(&settings).await.unwrap();
    let missing = bare.missing_permissions().await.expect("preflight");
    assert_eq!(missing, wicket::cluster::required_permissions("wicket-jit"));
}

#[tokio::test]
async fn the_preflight_finds_privileges_beyond_the_shipped_rbac() {
    let env = env(&["payments"]).await;
    let bindable = ["wicket-view", "wicket-edit", "wicket-admin"];
    let excess = env
        .wicket
        .excess_permissions("wicket-system", &bindable)
        .await
        .expect("preflight");
    assert!(
        excess.is_empty(),
        "the shipped RBAC holds no excess: {excess:?}"
    );

    // The cluster admin holds all of it.
    let path = env.dir.path().join("admin.kubeconfig");
    env.sim.write_kubeconfig(&path).unwrap();
    let admin = ClusterTarget::connect(&TargetSettings::new(
        "sim",
        Connection::Kubeconfig {
            path,
            context: None,
        },
    ))
    .await
    .unwrap();
    let excess = admin
        .excess_permissions("wicket-system", &bindable)
        .await
        .expect("preflight");
    assert_eq!(
        excess,
        wicket::cluster::excess_probes("wicket-system", &bindable)
    );

    // Each widening of Wicket's own RBAC is found and named: `bind` on any role, and tokens
    // in Wicket's own namespace.
    cluster_env::apply(
        &env.admin,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: too-much}
rules:
  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind]}
  - {apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: too-much}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: too-much}
subjects: [{kind: ServiceAccount, name: wicket, namespace: wicket-system}]
"#,
    )
    .await;
    let excess = env
        .wicket
        .excess_permissions("wicket-system", &bindable)
        .await
        .expect("preflight");
    let named: Vec<String> = excess.iter().map(ToString::to_string).collect();
    assert!(
        named
            .iter()
            .any(|e| e.starts_with("bind clusterroles (rbac.authorization.k8s.io) `cluster-admin`")),
        "{named:?}"
    );
    assert!(
        named
            .iter()
            .any(|e| e.starts_with("create serviceaccounts/token (core) in `wicket-system`")),
        "{named:?}"
    );
    assert!(!named.iter().any(|e| e.contains("escalate")), "{named:?}");
}

#[tokio::test]
async fn the_shipped_bindable_roles_hold_no_rule_that_is_never_granted() {
    let env = env(&["payments"]).await;
    let guardrails = wicket::guard::Guardrails::default();
    for (role, cluster_role) in guardrails.roles() {
        let rules = env
            .wicket
            .cluster_role_rules(cluster_role)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("the manifest creates `{cluster_role}`"));
        assert!(!rules.is_empty(), "{cluster_role}");
        assert_eq!(
            guardrails.check_bindable(role, cluster_role, &rules),
            Ok(())
        );
    }
    // Upstream's own `edit` and `admin` would be refused: they hold tokens, impersonation,
    // secrets (and admin RBAC writes).
    for upstream in ["edit", "admin"] {
        let rules = env
            .wicket
            .cluster_role_rules(upstream)
            .await
            .unwrap()
            .unwrap();
        assert!(
            guardrails
                .check_bindable(upstream, upstream, &rules)
                .is_err(),
            "upstream `{upstream}`"
        );
    }
}

#[tokio::test]
async fn each_granted_namespace_gets_its_own_binding() {
    let env = env(&["payments", "billing"]).await;
    let s = spec(
        "r10",
        vec![
            ("payments", Access::Role("wicket-view".into())),
            ("billing", Access::Rules(vec![rule(&["pods"], &["list"])])),
        ],
        vec![],
    );
    let provisioned = env.wicket.provision(&s).await.expect("provision");
    let mut found = labelled(&env.admin, "r10").await;
    found.sort();
    assert_eq!(
        found,
        [
            "Role billing/wicket-r10",
            "RoleBinding billing/wicket-r10",
            "RoleBinding payments/wicket-r10",
            "ServiceAccount wicket-jit/wicket-r10"
        ]
    );
    assert_eq!(
        provisioned.credential.context, "sim-payments",
        "the first namespace names the context"
    );
    let user = cluster_env::client(provisioned.credential.kubeconfig.expose()).await;
    for ns in ["payments", "billing"] {
        Api::<Pod>::namespaced(user.clone(), ns)
            .list(&ListParams::default())
            .await
            .expect(ns);
    }
    let denied = Api::<Pod>::namespaced(user, "default")
        .list(&ListParams::default())
        .await;
    assert_eq!(status_of(denied), (403, "Forbidden".to_owned()));
}

#[tokio::test]
async fn a_failed_rollback_is_reported_as_left_behind() {
    let env = env(&["payments"]).await;
    let fail = |resource: &str, verb: &str| {
        FaultRule::new(FaultAction::Fail {
            code: 500,
            reason: "InternalError".into(),
            message: "injected".into(),
        })
        .verb(verb)
        .resource(resource)
    };
    env.sim.faults().add(fail("clusterroles", "create"));
    env.sim.faults().add(fail("roles", "delete"));
    let err = env.wicket.provision(&full_spec("r11")).await.unwrap_err();
    let Error::Provision(failure) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failure.step, ProvisionStep::ClusterRole);
    assert_eq!(
        failure.left_behind,
        [ObjectRef::role("payments", "wicket-r11")]
    );
    assert_eq!(
        failure.rolled_back,
        [
            ObjectRef::role_binding("payments", "wicket-r11"),
            ObjectRef::service_account("wicket-jit", "wicket-r11")
        ]
    );
    // What was left behind is labelled, so the reconciler finds it.
    env.sim.faults().clear();
    let managed = env.wicket.list_managed(INSTALLATION).await.unwrap();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].object, ObjectRef::role("payments", "wicket-r11"));
    assert_eq!(managed[0].request_id.as_deref(), Some("r11"));
    assert_eq!(
        env.wicket.delete_managed(&managed[0]).await.unwrap(),
        wicket::cluster::Deleted::Now
    );
    assert!(labelled(&env.admin, "r11").await.is_empty());
}
