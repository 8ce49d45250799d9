//! Whose objects: on one API server, as Wicket's least-privilege identity, listing, teardown,
//! credentials and adoption touch only the objects of this installation's cluster entry (and,
//! for a request of its own made before installation labels, that request's unlabelled
//! objects); another installation's, another cluster entry's and unlabelled objects of unknown
//! requests are left alone.

mod cluster_env;

use std::time::Duration;

use cluster_env::{INSTALLATION, env, labelled, spec};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::api::PostParams;
use wicket::cluster::{
    ClusterTarget, Connection, Error, ProvisionStep, StepFailure, TargetSettings,
};
use wicket::domain::{Access, ObjectRef};

/// Another installation's id.
const OTHER: &str = "ffffffffffffffffffffffffffffffff";

fn view_payments(id: &str, installation: &str) -> wicket::cluster::ProvisionSpec {
    let mut s = spec(
        id,
        vec![("payments", Access::Role("wicket-view".into()))],
        vec![],
    );
    s.installation = installation.to_owned();
    s
}

/// A RoleBinding a Wicket before installation labels made for `request` (its ServiceAccount
/// in `jit`).
async fn legacy_binding(admin: &kube::Client, jit: &str, name: &str, request: &str) {
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "payments", "labels": {
            "app.kubernetes.io/managed-by": "wicket", "wicket.dev/request": request}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "wicket-view"},
        "subjects": [{"kind": "ServiceAccount", "name": format!("wicket-{request}"),
                      "namespace": jit}],
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), "payments")
        .create(&PostParams::default(), &binding)
        .await
        .expect("create a legacy binding");
}

#[tokio::test]
async fn only_this_installations_cluster_entry_is_listed_torn_down_or_issued() {
    let env = env(&["payments"]).await;
    // The same API server and identity as another cluster entry of this installation.
    let sibling = ClusterTarget::connect(&TargetSettings::new(
        "sim-b",
        Connection::Kubeconfig {
            path: env.dir.path().join("wicket.kubeconfig"),
            context: None,
        },
    ))
    .await
    .unwrap();
    env.wicket
        .provision(&view_payments("r1", INSTALLATION))
        .await
        .expect("ours");
    env.wicket
        .provision(&view_payments("o1", OTHER))
        .await
        .expect("another installation's");
    sibling
        .provision(&view_payments("b1", INSTALLATION))
        .await
        .expect("another cluster entry's");
    let jit = env.wicket.jit_namespace().to_owned();
    legacy_binding(&env.admin, &jit, "legacy-r1", "r1").await;
    legacy_binding(&env.admin, &jit, "legacy-x9", "x9").await;

    let managed = env.wicket.list_managed(INSTALLATION).await.unwrap();
    let mut names: Vec<_> = managed.iter().map(|m| m.object.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            ObjectRef::service_account(&jit, "wicket-r1"),
            ObjectRef::role_binding("payments", "wicket-r1"),
        ]
    );
    let legacy = env.wicket.list_legacy().await.unwrap();
    assert_eq!(legacy.len(), 2, "{legacy:?}");

    for (id, whose) in [
        ("o1", "another installation"),
        ("b1", "another cluster entry"),
    ] {
        let err = env
            .wicket
            .issue_credential(INSTALLATION, id, Duration::from_secs(600))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Credential {
                    source: StepFailure::Foreign,
                    ..
                }
            ),
            "no credential for {whose}'s account: {err:?}"
        );
        let report = env.wicket.teardown(INSTALLATION, id).await.unwrap();
        assert!(report.deleted.is_empty(), "{whose}: {report:?}");
        assert_eq!(labelled(&env.admin, id).await.len(), 2, "{whose}");
    }

    // Our request's teardown also ends what an older version made for it, nothing else.
    let report = env.wicket.teardown(INSTALLATION, "r1").await.unwrap();
    assert_eq!(
        report.deleted,
        [
            ObjectRef::service_account(&jit, "wicket-r1"),
            ObjectRef::role_binding("payments", "wicket-r1"),
            ObjectRef::role_binding("payments", "legacy-r1"),
        ]
    );
    assert_eq!(
        labelled(&env.admin, "x9").await,
        ["RoleBinding payments/legacy-x9"]
    );
    assert_eq!(labelled(&env.admin, "o1").await.len(), 2);
    assert_eq!(labelled(&env.admin, "b1").await.len(), 2);
}

#[tokio::test]
async fn another_installations_object_of_the_same_name_is_never_adopted() {
    let env = env(&["payments"]).await;
    env.wicket
        .provision(&view_payments("r2", OTHER))
        .await
        .expect("another installation's");
    let err = env
        .wicket
        .provision(&view_payments("r2", INSTALLATION))
        .await
        .unwrap_err();
    let Error::Provision(failure) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failure.step, ProvisionStep::ServiceAccount);
    assert!(
        matches!(failure.source, StepFailure::Foreign),
        "{:?}",
        failure.source
    );
    assert!(failure.rolled_back.is_empty(), "{failure:?}");
    assert_eq!(
        labelled(&env.admin, "r2").await.len(),
        2,
        "the other installation's grant is intact"
    );
}
