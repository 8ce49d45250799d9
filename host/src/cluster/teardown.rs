//! Ending a grant and finding what Wicket manages: objects are found by their labels, so this
//! works without the database (after a crash, for the reconciler). Every selector names the
//! installation and the cluster entry ([`Owner`]): what another installation or another cluster
//! entry on the same API server created is never listed, so never deleted.

use std::fmt::Debug;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::error::{ApiError, Error, Result, TeardownFailure};
use super::names::{
    EXPIRES_AT_ANNOTATION, Owner, REQUEST_LABEL, legacy_request_selector, legacy_selector,
    validate_request_id,
};
use super::target::ClusterTarget;
use crate::domain::{Kind, ObjectRef};

/// Page size of label-selected lists.
const PAGE: u32 = 500;

/// What a teardown deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeardownReport {
    /// Objects deleted, ServiceAccounts first.
    pub deleted: Vec<ObjectRef>,
}

/// An object Wicket manages, as found on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedObject {
    /// Which object.
    pub object: ObjectRef,
    /// The request it was created for; `None` if its label is missing (an orphan).
    pub request_id: Option<String>,
    /// When its grant ends; `None` if the annotation is missing or unreadable (treat as ended).
    pub expires_at: Option<Timestamp>,
}

/// Whether a delete removed the object or found it gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted now.
    Now,
    /// Not there (404).
    AlreadyGone,
}

impl ClusterTarget {
    /// Ends the grant of `request_id` of `installation`: deletes its ServiceAccount first (which
    /// invalidates every token minted for it), then its RoleBindings, Roles, ClusterRoleBindings
    /// and ClusterRoles, all found by the request label together with the installation and
    /// cluster labels. Objects of the request made before those labels existed (no installation
    /// label) are deleted too, so that a grant made before an upgrade still ends. Objects
    /// already gone are fine, so it is idempotent. On a failure it still deletes everything it
    /// can, then reports what failed.
    #[tracing::instrument(skip(self), fields(cluster = %self.name))]
    pub async fn teardown(&self, installation: &str, request_id: &str) -> Result<TeardownReport> {
        validate_request_id(request_id)?;
        let owner = Owner::new(installation, &self.name)?;
        let selectors = [
            owner.request_selector(request_id),
            legacy_request_selector(request_id),
        ];
        let mut deleted = Vec::new();
        let mut failures = Vec::new();
        for kind in TEARDOWN_ORDER {
            let mut found = Vec::new();
            for selector in &selectors {
                match self.find(kind, selector).await {
                    Ok(more) => found.extend(more),
                    Err(error) => failures.push(TeardownFailure {
                        what: format!("list {kind}s"),
                        error,
                    }),
                }
            }
            for managed in found {
                match self.delete_object(&managed.object).await {
                    Ok(Deleted::Now) => deleted.push(managed.object),
                    Ok(Deleted::AlreadyGone) => {}
                    Err(error) => failures.push(TeardownFailure {
                        what: managed.object.to_string(),
                        error,
                    }),
                }
            }
        }
        if failures.is_empty() {
            tracing::info!(deleted = deleted.len(), "grant torn down");
            Ok(TeardownReport { deleted })
        } else {
            tracing::error!(
                deleted = deleted.len(),
                failures = failures.len(),
                "teardown incomplete"
            );
            Err(Error::Teardown {
                request_id: request_id.to_owned(),
                deleted,
                failures,
            })
        }
    }

    /// Every object `installation` manages through this cluster entry (ServiceAccounts in the
    /// JIT namespace, RBAC objects in every namespace), for the reconciler.
    #[tracing::instrument(skip(self), fields(cluster = %self.name))]
    pub async fn list_managed(&self, installation: &str) -> Result<Vec<ManagedObject>> {
        let selector = Owner::new(installation, &self.name)?.selector();
        self.list_selected(&selector).await
    }

    /// Every object labelled as Wicket's without an installation label: made by a Wicket
    /// version before those labels, by this installation or another. The reconciler leaves
    /// them alone.
    #[tracing::instrument(skip(self), fields(cluster = %self.name))]
    pub async fn list_legacy(&self) -> Result<Vec<ManagedObject>> {
        self.list_selected(&legacy_selector()).await
    }

    async fn list_selected(&self, selector: &str) -> Result<Vec<ManagedObject>> {
        let mut all = Vec::new();
        for kind in TEARDOWN_ORDER {
            let found = self
                .find(kind, selector)
                .await
                .map_err(|source| Error::List {
                    kind: plural(kind),
                    source,
                })?;
            all.extend(found);
        }
        Ok(all)
    }

    /// Deletes one managed object (for the reconciler); a missing object is fine.
    pub async fn delete_managed(&self, managed: &ManagedObject) -> Result<Deleted> {
        self.delete_object(&managed.object)
            .await
            .map_err(|error| Error::Teardown {
                request_id: managed.request_id.clone().unwrap_or_default(),
                deleted: Vec::new(),
                failures: vec![TeardownFailure {
                    what: managed.object.to_string(),
                    error,
                }],
            })
    }

    /// Deletes one object; 404 is [`Deleted::AlreadyGone`].
    pub(crate) async fn delete_object(&self, object: &ObjectRef) -> Result<Deleted, ApiError> {
        let client = self.client.clone();
        let ns = object.namespace.as_deref().unwrap_or_default();
        let name = object.name.as_str();
        let result = match object.kind {
            Kind::ServiceAccount => {
                delete(Api::<ServiceAccount>::namespaced(client, ns), name).await
            }
            Kind::Role => delete(Api::<Role>::namespaced(client, ns), name).await,
            Kind::RoleBinding => delete(Api::<RoleBinding>::namespaced(client, ns), name).await,
            Kind::ClusterRole => delete(Api::<ClusterRole>::all(client), name).await,
            Kind::ClusterRoleBinding => delete(Api::<ClusterRoleBinding>::all(client), name).await,
        };
        match result {
            Ok(()) => {
                tracing::debug!(%object, "deleted");
                Ok(Deleted::Now)
            }
            Err(e) if e.is_not_found() => Ok(Deleted::AlreadyGone),
            Err(e) => Err(e),
        }
    }

    /// The objects of `kind` matching `selector`.
    async fn find(&self, kind: Kind, selector: &str) -> Result<Vec<ManagedObject>, ApiError> {
        let client: Client = self.client.clone();
        match kind {
            Kind::ServiceAccount => {
                list(
                    Api::<ServiceAccount>::namespaced(client, &self.jit_namespace),
                    kind,
                    selector,
                )
                .await
            }
            Kind::Role => list(Api::<Role>::all(client), kind, selector).await,
            Kind::RoleBinding => list(Api::<RoleBinding>::all(client), kind, selector).await,
            Kind::ClusterRole => list(Api::<ClusterRole>::all(client), kind, selector).await,
            Kind::ClusterRoleBinding => {
                list(Api::<ClusterRoleBinding>::all(client), kind, selector).await
            }
        }
    }
}

/// The order teardown deletes kinds in: the ServiceAccount first, then bindings before roles.
const TEARDOWN_ORDER: [Kind; 5] = [
    Kind::ServiceAccount,
    Kind::RoleBinding,
    Kind::Role,
    Kind::ClusterRoleBinding,
    Kind::ClusterRole,
];

fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::ServiceAccount => "ServiceAccounts",
        Kind::Role => "Roles",
        Kind::RoleBinding => "RoleBindings",
        Kind::ClusterRole => "ClusterRoles",
        Kind::ClusterRoleBinding => "ClusterRoleBindings",
    }
}

async fn delete<K>(api: Api<K>, name: &str) -> Result<(), ApiError>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    api.delete(name, &DeleteParams::default())
        .await
        .map(|_| ())
        .map_err(ApiError::from)
}

/// Every object of `api` matching `selector`, page by page.
async fn list<K>(api: Api<K>, kind: Kind, selector: &str) -> Result<Vec<ManagedObject>, ApiError>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    let mut params = ListParams::default().labels(selector).limit(PAGE);
    let mut out = Vec::new();
    loop {
        let page = api.list(&params).await?;
        out.extend(page.items.iter().map(|item| managed(kind, item)));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(out),
        }
    }
}

fn managed<K: Resource>(kind: Kind, item: &K) -> ManagedObject {
    let meta = item.meta();
    let annotation = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(EXPIRES_AT_ANNOTATION));
    ManagedObject {
        object: ObjectRef {
            kind,
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
        },
        request_id: meta
            .labels
            .as_ref()
            .and_then(|l| l.get(REQUEST_LABEL))
            .cloned(),
        expires_at: annotation.and_then(|a| a.parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    #[test]
    fn teardown_deletes_the_service_account_first() {
        assert_eq!(TEARDOWN_ORDER[0], Kind::ServiceAccount);
    }

    #[test]
    fn managed_objects_read_labels_and_annotations() {
        let item = RoleBinding {
            metadata: ObjectMeta {
                name: Some("wicket-r1".into()),
                namespace: Some("payments".into()),
                labels: Some(BTreeMap::from([(
                    REQUEST_LABEL.to_owned(),
                    "r1".to_owned(),
                )])),
                annotations: Some(BTreeMap::from([(
                    EXPIRES_AT_ANNOTATION.to_owned(),
                    "2026-11-21T13:00:00Z".to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            ..RoleBinding::default()
        };
        let m = managed(Kind::RoleBinding, &item);
        assert_eq!(m.object, ObjectRef::role_binding("payments", "wicket-r1"));
        assert_eq!(m.request_id.as_deref(), Some("r1"));
        assert_eq!(m.expires_at, Some("2026-11-21T13:00:00Z".parse().unwrap()));
    }

    #[test]
    fn unreadable_expiry_and_missing_request_are_none() {
        let item = ClusterRole {
            metadata: ObjectMeta {
                name: Some("wicket-x".into()),
                annotations: Some(BTreeMap::from([(
                    EXPIRES_AT_ANNOTATION.to_owned(),
                    "tomorrow".to_owned(),
                )])),
                ..ObjectMeta::default()
            },
            ..ClusterRole::default()
        };
        let m = managed(Kind::ClusterRole, &item);
        assert_eq!(m.request_id, None);
        assert_eq!(m.expires_at, None);
        assert_eq!(m.object.namespace, None);
    }
}
