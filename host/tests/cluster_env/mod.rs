//! A kube-sim per test with Wicket installed as production would install it
//! (`examples/deploy/wicket-rbac.yaml`), Wicket's `ClusterTarget` connected with the non-admin
//! identity that file creates, an admin client to check results independently, and real kubectl.

#![allow(dead_code)] // each test binary uses a different subset of the helpers

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use kube_sim::KubeSim;
use wicket::cluster::{ClusterTarget, Connection, ProvisionSpec, TargetSettings};
use wicket::domain::{Access, Grant, NamespaceGrant, Rule};

pub use wicket::cluster::WICKET_RBAC;

/// The installation id the tests provision as.
pub const INSTALLATION: &str = "0123456789abcdef0123456789abcdef";

/// One simulator with Wicket installed.
pub struct Env {
    pub sim: KubeSim,
    pub dir: tempfile::TempDir,
    /// A client with the simulator's admin token, for setup and independent checks.
    pub admin: Client,
    /// Wicket's target, connected as `system:serviceaccount:wicket-system:wicket`.
    pub wicket: ClusterTarget,
}

/// Starts a simulator, creates `namespaces`, installs Wicket's RBAC and connects Wicket with it.
pub async fn env(namespaces: &[&str]) -> Env {
    let sim = KubeSim::start(kube_sim::Config::default())
        .await
        .expect("start kube-sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = client(&sim.kubeconfig("admin").expect("admin kubeconfig")).await;
    let ns_api = Api::<Namespace>::all(admin.clone());
    for ns in namespaces {
        let obj: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": ns}})).unwrap();
        ns_api
            .create(&PostParams::default(), &obj)
            .await
            .expect("create namespace");
    }
    apply(&admin, WICKET_RBAC).await;
    let token = sim
        .token_for("wicket-system", "wicket", 3600)
        .expect("wicket's token");
    let path = dir.path().join("wicket.kubeconfig");
    std::fs::write(
        &path,
        sim.kubeconfig_with_token("wicket", &token)
            .expect("kubeconfig"),
    )
    .unwrap();
    let settings = TargetSettings::new(
        "sim",
        Connection::Kubeconfig {
            path,
            context: None,
        },
    );
    let wicket = ClusterTarget::connect(&settings)
        .await
        .expect("connect wicket");
    Env {
        sim,
        dir,
        admin,
        wicket,
    }
}

/// A client from kubeconfig YAML.
pub async fn client(yaml: &str) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(yaml).expect("parse kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig config");
    Client::try_from(config).expect("client")
}

/// Every object carrying `wicket.dev/request=<id>`, as `Kind ns/name`, seen by the admin.
pub async fn labelled(admin: &Client, request_id: &str) -> Vec<String> {
    let lp = ListParams::default().labels(&format!("wicket.dev/request={request_id}"));
    let mut out = Vec::new();
    let c = admin.clone();
    for o in Api::<ServiceAccount>::all(c.clone())
        .list(&lp)
        .await
        .unwrap()
    {
        out.push(format!(
            "ServiceAccount {}/{}",
            o.metadata.namespace.unwrap(),
            o.metadata.name.unwrap()
        ));
    }
    for o in Api::<RoleBinding>::all(c.clone()).list(&lp).await.unwrap() {
        out.push(format!(
            "RoleBinding {}/{}",
            o.metadata.namespace.unwrap(),
            o.metadata.name.unwrap()
        ));
    }
    for o in Api::<Role>::all(c.clone()).list(&lp).await.unwrap() {
        out.push(format!(
            "Role {}/{}",
            o.metadata.namespace.unwrap(),
            o.metadata.name.unwrap()
        ));
    }
    for o in Api::<ClusterRoleBinding>::all(c.clone())
        .list(&lp)
        .await
        .unwrap()
    {
        out.push(format!("ClusterRoleBinding {}", o.metadata.name.unwrap()));
    }
    for o in Api::<ClusterRole>::all(c).list(&lp).await.unwrap() {
        out.push(format!("ClusterRole {}", o.metadata.name.unwrap()));
    }
    out
}

/// A rule on core-group resources.
pub fn rule(resources: &[&str], verbs: &[&str]) -> Rule {
    Rule {
        api_groups: vec![String::new()],
        resources: resources.iter().map(|s| (*s).to_owned()).collect(),
        verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
        resource_names: vec![],
    }
}

/// A spec for request `id` ending in an hour.
pub fn spec(id: &str, namespaces: Vec<(&str, Access)>, cluster_rules: Vec<Rule>) -> ProvisionSpec {
    ProvisionSpec {
        installation: INSTALLATION.to_owned(),
        request_id: id.to_owned(),
        requester: "alice@example.com".to_owned(),
        reason: "INC-123: payments are failing".to_owned(),
        expires_at: Timestamp::now() + SignedDuration::from_secs(3600),
        grant: Grant {
            namespaces: namespaces
                .into_iter()
                .map(|(ns, access)| NamespaceGrant {
                    namespace: ns.to_owned(),
                    access,
                })
                .collect(),
            cluster_rules,
            ttl_seconds: 3600,
        },
    }
}

/// The `kubectl` on `PATH` (every machine has it: the tests need real kubectl).
pub fn kubectl_binary() -> PathBuf {
    kube_sim::kubectl::on_path().expect("kubectl on PATH (the cluster tests need real kubectl)")
}

/// Applies `manifest` as the admin.
pub async fn apply(admin: &Client, manifest: &str) {
    wicket::cluster::apply(admin, "sim", manifest)
        .await
        .expect("apply the manifest");
}
