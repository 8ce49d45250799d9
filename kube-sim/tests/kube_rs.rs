//! kube-rs against kube-sim: typed CRUD, TokenRequest, RBAC-scoped clients, revocation,
//! optimistic concurrency, selectors, Status bodies, and fault injection (library and HTTP).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Error};
use kube_sim::{Config, FaultAction, FaultRule, KubeSim, When};
use rstest::rstest;
use serde_json::{Value, json};

const OBJECTS: &str = include_str!("fixtures/team-a-objects.json");

async fn client(kubeconfig: &str) -> Client {
    let kc = Kubeconfig::from_yaml(kubeconfig).expect("parse kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

async fn admin(sim: &KubeSim) -> Client {
    client(&sim.kubeconfig("admin").expect("kubeconfig")).await
}

fn status(err: Error) -> (u16, String, String) {
    match err {
        Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn named<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("fixture object")
}

/// team-a with ServiceAccount `bot` allowed to get/list pods there; returns the bot's client.
async fn team_a_bot(sim: &KubeSim, admin: &Client) -> (Client, String) {
    let objects: Value = serde_json::from_str(OBJECTS).expect("fixture");
    let pp = PostParams::default();
    for ns in ["team-a", "other"] {
        Api::<Namespace>::all(admin.clone())
            .create(&pp, &named(json!({"metadata": {"name": ns}})))
            .await
            .expect("namespace");
    }
    let sas = Api::<ServiceAccount>::namespaced(admin.clone(), "team-a");
    sas.create(&pp, &named(json!({"metadata": {"name": "bot"}})))
        .await
        .expect("service account");
    Api::<Role>::namespaced(admin.clone(), "team-a")
        .create(&pp, &named(objects["role"].clone()))
        .await
        .expect("role");
    Api::<RoleBinding>::namespaced(admin.clone(), "team-a")
        .create(&pp, &named(objects["binding"].clone()))
        .await
        .expect("binding");
    let tr = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token = sas
        .create_token_request("bot", &pp, &tr)
        .await
        .expect("token")
        .status
        .expect("status")
        .token
        .expect("token");
    let bot = client(
        &sim.kubeconfig_with_token("bot", &token)
            .expect("kubeconfig"),
    )
    .await;
    (bot, token)
}

#[tokio::test]
async fn service_account_token_is_scoped_and_revoked() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    let (bot, _) = team_a_bot(&sim, &admin).await;

    let pods = Api::<Pod>::namespaced(bot.clone(), "team-a")
        .list(&ListParams::default())
        .await
        .expect("own namespace");
    assert!(pods.items.is_empty());

    let err = Api::<Pod>::namespaced(bot.clone(), "other")
        .list(&ListParams::default())
        .await
        .expect_err("forbidden");
    assert_eq!(
        status(err),
        (
            403,
            "Forbidden".to_owned(),
            r#"pods is forbidden: User "system:serviceaccount:team-a:bot" cannot list resource "pods" in API group "" in the namespace "other""#
                .to_owned()
        )
    );
    let err = Api::<ConfigMap>::namespaced(bot.clone(), "team-a")
        .get("x")
        .await
        .expect_err("forbidden");
    assert_eq!(
        status(err).2,
        r#"configmaps "x" is forbidden: User "system:serviceaccount:team-a:bot" cannot get resource "configmaps" in API group "" in the namespace "team-a""#
    );
    let err = Api::<Namespace>::all(bot.clone())
        .list(&ListParams::default())
        .await
        .expect_err("forbidden");
    assert_eq!(
        status(err).2,
        r#"namespaces is forbidden: User "system:serviceaccount:team-a:bot" cannot list resource "namespaces" in API group "" at the cluster scope"#
    );

    Api::<ServiceAccount>::namespaced(admin.clone(), "team-a")
        .delete("bot", &DeleteParams::default())
        .await
        .expect("delete");
    let err = Api::<Pod>::namespaced(bot.clone(), "team-a")
        .list(&ListParams::default())
        .await
        .expect_err("revoked");
    assert_eq!(
        status(err),
        (401, "Unauthorized".to_owned(), "Unauthorized".to_owned())
    );

    // A new account with the same name has another uid: the old token stays dead.
    Api::<ServiceAccount>::namespaced(admin.clone(), "team-a")
        .create(
            &PostParams::default(),
            &named(json!({"metadata": {"name": "bot"}})),
        )
        .await
        .expect("recreate");
    let err = Api::<Pod>::namespaced(bot, "team-a")
        .list(&ListParams::default())
        .await
        .expect_err("still revoked");
    assert_eq!(status(err).0, 401);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    team_a_bot(&sim, &admin).await;
    let expired = sim.token_for("team-a", "bot", -1).expect("token");
    let bot = client(
        &sim.kubeconfig_with_token("bot", &expired)
            .expect("kubeconfig"),
    )
    .await;
    let err = Api::<Pod>::namespaced(bot, "team-a")
        .list(&ListParams::default())
        .await
        .expect_err("expired");
    assert_eq!(status(err).0, 401);
}

#[rstest]
#[case::too_short(json!({"spec": {"expirationSeconds": 599}}), 422,
    r#"TokenRequest.authentication.k8s.io "bot" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"#)]
#[case::name_mismatch(json!({"metadata": {"name": "someone-else"}, "spec": {}}), 422,
    r#"TokenRequest.authentication.k8s.io "bot" is invalid: metadata.name: Invalid value: "someone-else": must match the service account name if specified"#)]
#[tokio::test]
async fn token_request_validation(#[case] body: Value, #[case] code: u16, #[case] message: &str) {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    team_a_bot(&sim, &admin).await;
    let err = Api::<ServiceAccount>::namespaced(admin, "team-a")
        .create_token_request("bot", &PostParams::default(), &named(body))
        .await
        .expect_err("invalid");
    let (c, _, m) = status(err);
    assert_eq!((c, m.as_str()), (code, message));
}

#[tokio::test]
async fn token_request_defaults_and_missing_account() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    let sas = Api::<ServiceAccount>::namespaced(admin, "default");
    let tr = sas
        .create_token_request("default", &PostParams::default(), &TokenRequest::default())
        .await
        .expect("token");
    let spec = tr.spec.expect("spec");
    assert_eq!(spec.expiration_seconds, Some(3600));
    assert_eq!(
        spec.audiences,
        Some(vec![
            "https://kubernetes.default.svc.cluster.local".to_owned()
        ])
    );
    let err = sas
        .create_token_request("ghost", &PostParams::default(), &TokenRequest::default())
        .await
        .expect_err("missing");
    assert_eq!(
        status(err),
        (
            404,
            "NotFound".to_owned(),
            r#"serviceaccounts "ghost" not found"#.to_owned()
        )
    );
}

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

#[tokio::test]
async fn token_review_and_access_reviews_over_json() {
    use k8s_openapi::api::authentication::v1::TokenReview;
    use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SubjectAccessReview};

    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin = admin(&sim).await;
    let (bot, token) = team_a_bot(&sim, &admin).await;
    let pp = PostParams::default();

    let review = Api::<TokenReview>::all(admin.clone())
        .create(&pp, &named(json!({"spec": {"token": token}})))
        .await
        .expect("token review");
    let status = review.status.expect("status");
    assert_eq!(status.authenticated, Some(true));
    let user = status.user.expect("user");
    assert_eq!(
        user.username.as_deref(),
        Some("system:serviceaccount:team-a:bot")
    );
    assert_eq!(
        user.groups,
        Some(vec![
            "system:serviceaccounts".into(),
            "system:serviceaccounts:team-a".into(),
            "system:authenticated".into()
        ])
    );
    let wrong_audience = Api::<TokenReview>::all(admin.clone())
        .create(
            &pp,
            &named(json!({"spec": {"token": token, "audiences": ["vault"]}})),
        )
        .await
        .expect("token review");
    assert_ne!(
        wrong_audience.status.expect("status").authenticated,
        Some(true)
    );

    let ssar = |verb: &str, resource: &str, ns: &str| {
        named::<SelfSubjectAccessReview>(
            json!({"spec": {"resourceAttributes": {"verb": verb, "resource": resource, "namespace": ns}}}),
        )
    };
    let allowed = |r: SelfSubjectAccessReview| r.status.expect("status").allowed;
    let self_reviews = Api::<SelfSubjectAccessReview>::all(bot.clone());
    assert!(allowed(
        self_reviews
            .create(&pp, &ssar("list", "pods", "team-a"))
            .await
            .expect("ssar")
    ));
    assert!(!allowed(
        self_reviews
            .create(&pp, &ssar("delete", "pods", "team-a"))
            .await
            .expect("ssar")
    ));

    let sar = named::<SubjectAccessReview>(
        json!({"spec": {"user": "system:serviceaccount:team-a:bot",
        "groups": ["system:serviceaccounts"], "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "other"}}}),
    );
    let answer = Api::<SubjectAccessReview>::all(admin)
        .create(&pp, &sar)
        .await
        .expect("sar");
    assert!(!answer.status.expect("status").allowed);
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
async fn static_user_tokens_authenticate_with_their_groups() {
    let mut config = Config::default();
    let alice = kube_sim::auth::UserInfo {
        username: "alice".into(),
        uid: String::new(),
        groups: vec!["auditors".into()],
        extra: BTreeMap::new(),
    };
    config.static_users.insert("alice-token".into(), alice);
    let sim = KubeSim::start(config).await.expect("start");
    let admin = admin(&sim).await;
    let binding = json!({"metadata": {"name": "auditors-view"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "auditors"}]});
    Api::<RoleBinding>::namespaced(admin, "default")
        .create(&PostParams::default(), &named(binding))
        .await
        .expect("binding");
    let alice = client(
        &sim.kubeconfig_with_token("alice", "alice-token")
            .expect("kubeconfig"),
    )
    .await;
    Api::<Pod>::namespaced(alice.clone(), "default")
        .list(&ListParams::default())
        .await
        .expect("view through the group");
    let err = Api::<Pod>::namespaced(alice, "kube-system")
        .list(&ListParams::default())
        .await
        .expect_err("not there");
    assert_eq!(
        status(err).2,
        r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "kube-system""#
    );
    let stranger = client(
        &sim.kubeconfig_with_token("x", "not-a-token")
            .expect("kubeconfig"),
    )
    .await;
    let err = Api::<Pod>::namespaced(stranger, "default")
        .list(&ListParams::default())
        .await
        .expect_err("unknown token");
    assert_eq!(status(err).0, 401);
}

#[tokio::test]
async fn impersonation_is_authorized_with_the_impersonate_verb() {
    let sim = KubeSim::start(Config::default()).await.expect("start");
    let admin_client = admin(&sim).await;
    let (_, token) = team_a_bot(&sim, &admin_client).await;
    let as_user = |token: &str, who: &str| {
        let mut kc: Value =
            serde_json::from_str(&sim.kubeconfig_with_token("x", token).expect("kubeconfig"))
                .expect("json");
        kc["users"][0]["user"]["as"] = json!(who);
        kc.to_string()
    };
    // The admin may act as the bot and gets exactly the bot's rights.
    let admin_as_bot = client(&as_user(
        sim.admin_token(),
        "system:serviceaccount:team-a:bot",
    ))
    .await;
    Api::<Pod>::namespaced(admin_as_bot.clone(), "team-a")
        .list(&ListParams::default())
        .await
        .expect("bot may list");
    let err = Api::<Pod>::namespaced(admin_as_bot, "other")
        .list(&ListParams::default())
        .await
        .expect_err("bot may not");
    assert!(
        status(err)
            .2
            .starts_with(r#"pods is forbidden: User "system:serviceaccount:team-a:bot""#)
    );
    // The bot may not act as anyone.
    let bot_as_admin = client(&as_user(&token, "kube-sim-admin")).await;
    let err = Api::<Pod>::namespaced(bot_as_admin, "team-a")
        .list(&ListParams::default())
        .await
        .expect_err("refused");
    assert_eq!(
        status(err),
        (
            403,
            "Forbidden".to_owned(),
            r#"users "kube-sim-admin" is forbidden: User "system:serviceaccount:team-a:bot" cannot impersonate resource "users" in API group "" at the cluster scope"#.to_owned()
        )
    );
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
