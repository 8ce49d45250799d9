//! kube-rs helpers shared by the kube-rs test files.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Error};
use kube_sim::KubeSim;
use serde_json::{Value, json};

const OBJECTS: &str = include_str!("../fixtures/team-a-objects.json");

pub async fn client(kubeconfig: &str) -> Client {
    let kc = Kubeconfig::from_yaml(kubeconfig).expect("parse kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

pub async fn admin(sim: &KubeSim) -> Client {
    client(&sim.kubeconfig("admin").expect("kubeconfig")).await
}

pub fn status(err: Error) -> (u16, String, String) {
    match err {
        Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

pub fn named<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("fixture object")
}

/// team-a with ServiceAccount `bot` allowed to get/list pods there; returns the bot's client.
pub async fn team_a_bot(sim: &KubeSim, admin: &Client) -> (Client, String) {
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
