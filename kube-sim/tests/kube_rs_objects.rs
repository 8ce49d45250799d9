//! kube-rs against kube-sim, object side: CRUD, conflicts, selectors, namespaces, RBAC validation,
//! patches, dry-run, fault injection (library and HTTP), request log.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::kube::{admin, named, status, team_a_bot};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube_sim::{Config, FaultAction, FaultRule, KubeSim, When};
use rstest::rstest;
use serde_json::{Value, json};

#[tokio::test]
async fn crud_conflicts_and_label_selectors() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    let cms = Api::<ConfigMap>::namespaced(admin.clone(), "default");
    let pp = PostParams::default();
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web")] {
        cms.create(
            &pp,
            &named(
                json!({"metadata": {"name": name, "labels": {"tier": tier}}, "data": {"k": "v"}}),
            ),
        )
        .await
        .expect("create");
    }
    cms.create(&pp, &named(json!({"metadata": {"name": "bare"}})))
        .await
        .expect("create");

    let err = cms
        .create(&pp, &named(json!({"metadata": {"name": "a"}})))
        .await
        .expect_err("exists");
    assert_eq!(
        status(err),
        (
            409,
            "AlreadyExists".to_owned(),
            r#"configmaps "a" already exists"#.to_owned()
        )
    );

    let first = cms.get("a").await.expect("get");
    assert!(first.metadata.uid.is_some() && first.metadata.creation_timestamp.is_some());
    let mut updated = first.clone();
    updated.data = Some(BTreeMap::from([("k".to_owned(), "w".to_owned())]));
    let updated = cms.replace("a", &pp, &updated).await.expect("update");
    assert_ne!(
        updated.metadata.resource_version,
        first.metadata.resource_version
    );
    assert_eq!(updated.metadata.uid, first.metadata.uid);
    let err = cms.replace("a", &pp, &first).await.expect_err("stale");
    assert_eq!(
        status(err),
        (
            409,
            "Conflict".to_owned(),
            r#"Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest version and try again"#.to_owned()
        )
    );

    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .into_iter()
            .filter_map(|c| c.metadata.name)
            .collect::<Vec<_>>()
    };
    let cases = [
        ("tier=web", vec!["a", "c"]),
        ("tier==db", vec!["b"]),
        ("tier!=web", vec!["b", "bare"]),
        ("tier in (db,web)", vec!["a", "b", "c"]),
        ("tier notin (web)", vec!["b", "bare"]),
        ("tier", vec!["a", "b", "c"]),
        ("!tier", vec!["bare"]),
    ];
    for (selector, expected) in cases {
        let got = names(
            cms.list(&ListParams::default().labels(selector))
                .await
                .expect("list"),
        );
        assert_eq!(got, expected, "selector {selector}");
    }
    let by_name = names(
        cms.list(&ListParams::default().fields("metadata.name=b"))
            .await
            .expect("list"),
    );
    assert_eq!(by_name, ["b"]);

    let patched = cms
        .patch(
            "b",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"tier": "web"}}})),
        )
        .await
        .expect("patch");
    assert_eq!(patched.metadata.labels.expect("labels")["tier"], "web");

    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("tier=web"),
    )
    .await
    .expect("deletecollection");
    assert_eq!(
        names(cms.list(&ListParams::default()).await.expect("list")),
        ["bare"]
    );
    let err = cms
        .delete("a", &DeleteParams::default())
        .await
        .expect_err("gone");
    assert_eq!(
        status(err),
        (
            404,
            "NotFound".to_owned(),
            r#"configmaps "a" not found"#.to_owned()
        )
    );
}

#[tokio::test]
async fn namespace_deletion_removes_its_objects() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    let pp = PostParams::default();
    Api::<Namespace>::all(admin.clone())
        .create(&pp, &named(json!({"metadata": {"name": "doomed"}})))
        .await
        .expect("ns");
    let cms = Api::<ConfigMap>::namespaced(admin.clone(), "doomed");
    cms.create(&pp, &named(json!({"metadata": {"name": "x"}})))
        .await
        .expect("cm");
    Api::<Namespace>::all(admin.clone())
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("delete ns");
    let all = Api::<ConfigMap>::all(admin.clone())
        .list(&ListParams::default())
        .await
        .expect("list");
    assert!(
        all.items
            .iter()
            .all(|c| c.metadata.namespace.as_deref() != Some("doomed"))
    );
    let err = cms
        .create(&pp, &named(json!({"metadata": {"name": "y"}})))
        .await
        .expect_err("no namespace");
    assert_eq!(
        status(err),
        (
            404,
            "NotFound".to_owned(),
            r#"namespaces "doomed" not found"#.to_owned()
        )
    );
}

#[tokio::test]
async fn rbac_validation_and_immutable_role_ref() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    let pp = PostParams::default();
    let roles = Api::<Role>::namespaced(admin.clone(), "default");
    let err = roles
        .create(&pp, &named(json!({"metadata": {"name": "r"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": []}]})))
        .await
        .expect_err("invalid");
    assert_eq!(
        status(err).2,
        r#"Role.rbac.authorization.k8s.io "r" is invalid: rules[0].verbs: Required value: verbs must contain at least one value"#
    );
    let rbs = Api::<RoleBinding>::namespaced(admin.clone(), "default");
    let binding = json!({"metadata": {"name": "b"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"}]});
    rbs.create(&pp, &named(binding)).await.expect("binding");
    let err = rbs
        .patch(
            "b",
            &PatchParams::default(),
            &Patch::Merge(json!({"roleRef": {"name": "edit"}})),
        )
        .await
        .expect_err("immutable");
    assert_eq!(
        status(err).2,
        r#"RoleBinding.rbac.authorization.k8s.io "b" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef"#
    );
}

#[tokio::test]
async fn faults_from_the_library_fail_hang_and_clear() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    let cms = Api::<ConfigMap>::namespaced(admin.clone(), "default");
    sim.faults().add(
        FaultRule::new(FaultAction::Fail {
            code: 500,
            reason: "InternalError".into(),
            message: "try later".into(),
        })
        .verb("get")
        .resource("configmaps")
        .name("flaky")
        .when(When::First(1)),
    );
    cms.create(
        &PostParams::default(),
        &named(json!({"metadata": {"name": "flaky"}})),
    )
    .await
    .expect("create");
    let err = cms.get("flaky").await.expect_err("injected");
    assert_eq!(
        status(err),
        (500, "InternalError".to_owned(), "try later".to_owned())
    );
    cms.get("flaky").await.expect("only the first get fails");

    let hang = sim.faults().add(
        FaultRule::new(FaultAction::Hang)
            .verb("list")
            .resource("configmaps"),
    );
    let timed_out =
        tokio::time::timeout(Duration::from_millis(300), cms.list(&ListParams::default())).await;
    assert!(timed_out.is_err(), "a hanging request never answers");
    assert!(sim.faults().remove(hang));
    sim.faults()
        .add(FaultRule::new(FaultAction::Latency { millis: 1 }).verb("list"));
    cms.list(&ListParams::default())
        .await
        .expect("latency still answers");
    assert_eq!(sim.faults().list().last().map(|f| f.seen), Some(1));
}

#[tokio::test]
async fn faults_over_the_admin_endpoint_are_admin_only() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    // kube-rs retries 429/503/504 on its own, so the injected status here is one it reports at once.
    let (bot, _) = team_a_bot(&sim, &admin).await;
    let rule = json!({"verb": "create", "resource": "serviceaccounts/token", "action": {"type": "fail", "code": 403, "reason": "Forbidden", "message": "tokens are off today"}});
    let post = |body: &Value| {
        hyper::Request::post("/kube-sim/v1/faults")
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes())
            .expect("request")
    };
    let created: Value = admin
        .request(post(&rule))
        .await
        .expect("admin may add faults");
    assert_eq!(created["id"], 1);
    let err = Api::<ServiceAccount>::namespaced(admin.clone(), "default")
        .create_token_request("default", &PostParams::default(), &TokenRequest::default())
        .await
        .expect_err("injected");
    assert_eq!(
        status(err),
        (
            403,
            "Forbidden".to_owned(),
            "tokens are off today".to_owned()
        )
    );

    let err = bot
        .request::<Value>(post(&rule))
        .await
        .expect_err("not an admin");
    let (code, _, message) = status(err);
    assert_eq!(
        (code, message.as_str()),
        (
            403,
            r#"forbidden: User "system:serviceaccount:team-a:bot" cannot post path "/kube-sim/v1/faults""#
        )
    );

    let cleared: Value = admin
        .request(
            hyper::Request::delete("/kube-sim/v1/faults")
                .body(vec![])
                .expect("request"),
        )
        .await
        .expect("clear");
    assert_eq!(cleared["cleared"], true);
    assert!(sim.faults().list().is_empty());
}

#[rstest]
#[case::merge(Patch::Merge(json!({"data": {"b": "2"}})), json!({"a": "1", "b": "2"}))]
#[case::strategic(Patch::Strategic(json!({"data": {"a": null}})), json!({}))]
#[case::apply(Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "5"}})), json!({"a": "5"}))]
#[tokio::test]
async fn patch_kinds(#[case] patch: Patch<Value>, #[case] data: Value) {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let cms = Api::<ConfigMap>::namespaced(admin(&sim).await, "default");
    cms.create(
        &PostParams::default(),
        &named(json!({"metadata": {"name": "p"}, "data": {"a": "1"}})),
    )
    .await
    .expect("create");
    let pp = PatchParams::apply("wicket");
    let patched = cms.patch("p", &pp, &patch).await.expect("patch");
    assert_eq!(json!(patched.data.unwrap_or_default()), data);
}

#[tokio::test]
async fn server_side_apply_creates_and_dry_run_stores_nothing() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let cms = Api::<ConfigMap>::namespaced(admin(&sim).await, "default");
    let applied = cms
        .patch(
            "new",
            &PatchParams::apply("wicket"),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}}),
            ),
        )
        .await
        .expect("apply creates");
    assert!(applied.metadata.uid.is_some());
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    cms.create(&dry, &named(json!({"metadata": {"name": "ghost"}})))
        .await
        .expect("dry run");
    let err = cms.get("ghost").await.expect_err("not stored");
    assert_eq!(status(err).0, 404);
}

#[tokio::test]
async fn request_log_and_object_snapshot_show_what_a_client_did() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    let (bot, _) = team_a_bot(&sim, &admin).await;
    sim.clear_request_log();
    let _ = Api::<Pod>::namespaced(bot, "other")
        .list(&ListParams::default())
        .await;
    Api::<ServiceAccount>::namespaced(admin, "team-a")
        .delete("bot", &DeleteParams::default())
        .await
        .expect("delete");
    let log: Vec<(String, String, String, String, u16)> = sim
        .request_log()
        .into_iter()
        .map(|r| {
            (
                r.user,
                r.attrs.verb,
                r.attrs.resource,
                r.attrs.namespace,
                r.code,
            )
        })
        .collect();
    assert_eq!(
        log,
        [
            (
                "system:serviceaccount:team-a:bot".to_owned(),
                "list".to_owned(),
                "pods".to_owned(),
                "other".to_owned(),
                403
            ),
            (
                "kube-sim-admin".to_owned(),
                "delete".to_owned(),
                "serviceaccounts".to_owned(),
                "team-a".to_owned(),
                200
            ),
        ]
    );
    let left: Vec<String> = sim
        .objects("", "serviceaccounts", "team-a")
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(left, ["default"]);
}
