//! Wicket's own RBAC as shipped (`examples/deploy/wicket-rbac.yaml`), and applying such a
//! manifest with an admin client: how `wicket dev` and the tests install Wicket on kube-sim
//! exactly as production does.

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::PostParams;
use kube::{Api, Client};

use super::error::{ApiError, Error, Result};
use super::names::FIELD_MANAGER;

/// `examples/deploy/wicket-rbac.yaml`: Wicket's own least-privilege RBAC and the ClusterRoles
/// it binds.
pub const WICKET_RBAC: &str = include_str!("../../../examples/deploy/wicket-rbac.yaml");
/// The namespace and name of the ServiceAccount [`WICKET_RBAC`] gives Wicket.
pub const WICKET_ACCOUNT: (&str, &str) = ("wicket-system", "wicket");

/// Creates every document of a multi-document manifest of Namespaces, ServiceAccounts and RBAC
/// objects (one that exists already is left as it is).
pub async fn apply(client: &Client, cluster: &str, manifest: &str) -> Result<()> {
    let invalid = |reason: String| Error::InvalidTarget {
        cluster: cluster.to_owned(),
        reason,
    };
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(manifest)
        .map_err(|e| invalid(format!("the manifest is not YAML: {e}")))?;
    for doc in docs.into_iter().filter(|d| !d.is_null()) {
        let namespace = doc["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
        let c = client.clone();
        let created = match kind.as_str() {
            "Namespace" => create::<Namespace>(Api::all(c), doc).await,
            "ServiceAccount" => create::<ServiceAccount>(Api::namespaced(c, &namespace), doc).await,
            "Role" => create::<Role>(Api::namespaced(c, &namespace), doc).await,
            "RoleBinding" => create::<RoleBinding>(Api::namespaced(c, &namespace), doc).await,
            "ClusterRole" => create::<ClusterRole>(Api::all(c), doc).await,
            "ClusterRoleBinding" => create::<ClusterRoleBinding>(Api::all(c), doc).await,
            other => return Err(invalid(format!("the manifest holds a `{other}`"))),
        };
        created.map_err(|e| match e {
            Ok(source) => Error::Apply {
                cluster: cluster.to_owned(),
                kind: kind.clone(),
                source,
            },
            Err(reason) => invalid(format!("a `{kind}` of the manifest: {reason}")),
        })?;
    }
    Ok(())
}

/// Creates `doc` as a `K`; an API error (`Ok`) or a document that is no `K` (`Err`).
async fn create<K>(api: Api<K>, doc: serde_json::Value) -> Result<(), Result<ApiError, String>>
where
    K: kube::Resource + Clone + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
{
    let object: K = serde_json::from_value(doc).map_err(|e| Err(e.to_string()))?;
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.to_owned()),
    };
    match api.create(&params, &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(Ok(ApiError::from(e))),
    }
}
