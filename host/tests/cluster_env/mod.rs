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
use wicket::policy::types::{Access, Grant, NamespaceGrant, Rule};

/// Wicket's own RBAC, as shipped.
pub const WICKET_RBAC: &str = include_str!("../../../examples/deploy/wicket-rbac.yaml");

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

/// Creates every document of a multi-document manifest with the typed APIs.
pub async fn apply(admin: &Client, manifest: &str) {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(manifest).expect("parse manifest");
    let pp = PostParams::default();
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let ns = doc["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let kind = doc["kind"].as_str().expect("kind").to_owned();
        let c = admin.clone();
        let created = match kind.as_str() {
            "Namespace" => create::<Namespace>(Api::all(c), doc, &pp).await,
            "ServiceAccount" => create::<ServiceAccount>(Api::namespaced(c, &ns), doc, &pp).await,
            "Role" => create::<Role>(Api::namespaced(c, &ns), doc, &pp).await,
            "RoleBinding" => create::<RoleBinding>(Api::namespaced(c, &ns), doc, &pp).await,
            "ClusterRole" => create::<ClusterRole>(Api::all(c), doc, &pp).await,
            "ClusterRoleBinding" => create::<ClusterRoleBinding>(Api::all(c), doc, &pp).await,
            other => panic!("unexpected kind {other} in manifest"),
        };
        created.unwrap_or_else(|e| panic!("apply {kind}: {e}"));
    }
}

async fn create<K>(api: Api<K>, doc: serde_json::Value, pp: &PostParams) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let obj: K = serde_json::from_value(doc).expect("typed object");
    match api.create(pp, &obj).await {
        Ok(_) => Ok(()),
        // The simulator may already have the namespace.
        Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
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
