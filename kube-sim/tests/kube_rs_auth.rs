//! kube-rs against kube-sim, authentication side: RBAC-scoped service-account tokens, revocation,
//! expiry, TokenRequest validation, TokenReview and access reviews, static users, impersonation.

mod common;

use std::collections::BTreeMap;

use common::kube::{admin, client, named, status, team_a_bot};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, ServiceAccount};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube_sim::{Config, KubeSim};
use rstest::rstest;
use serde_json::{Value, json};

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

/// With the API server's token cache modelled, a deleted account's token keeps working for at
/// most the cache's TTL after its last fresh authentication, then is refused; without it (the
/// default, above) it is refused at once.
#[tokio::test]
async fn with_the_token_cache_a_deleted_accounts_token_works_until_the_ttl_ends() {
    use std::time::{Duration, Instant};
    let ttl = Duration::from_secs(3);
    let sim = KubeSim::start(Config {
        token_cache_ttl: Some(ttl),
        ..Config::default()
    })
    .await
    .expect("start");
    let admin = admin(&sim).await;
    let (bot, _) = team_a_bot(&sim, &admin).await;
    let pods = Api::<Pod>::namespaced(bot.clone(), "team-a");
    pods.list(&ListParams::default())
        .await
        .expect("authenticated, and cached");
    let cached_by = Instant::now();
    Api::<ServiceAccount>::namespaced(admin.clone(), "team-a")
        .delete("bot", &DeleteParams::default())
        .await
        .expect("delete");
    let mut asked_within_ttl = 0;
    let mut served_after_delete = 0;
    loop {
        let asked = cached_by.elapsed();
        asked_within_ttl += usize::from(asked < ttl);
        match pods.list(&ListParams::default()).await {
            Ok(_) => {
                assert!(
                    asked < ttl,
                    "still authenticated when asked {asked:?} after caching"
                );
                served_after_delete += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => {
                assert_eq!(status(err).0, 401);
                break;
            }
        }
    }
    if asked_within_ttl > 0 {
        assert!(
            served_after_delete > 0,
            "the cached authentication held within the TTL"
        );
    }
}
