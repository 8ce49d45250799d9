//! A preflight check of Wicket's own permissions on a cluster (SelfSubjectAccessReviews), so a
//! missing install fails at start or on `/readyz` with the list of what is missing, not on the
//! first request.

use std::fmt;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

use super::error::{ApiError, Error, Result};
use super::names::FIELD_MANAGER;
use super::target::ClusterTarget;

/// A permission Wicket needs to provision and tear down grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// The verb, e.g. `create`.
    pub verb: &'static str,
    /// The API group, `""` for the core group.
    pub group: &'static str,
    /// The resource, optionally `resource/subresource`.
    pub resource: &'static str,
    /// The namespace (the JIT namespace), or `None` for every namespace / cluster scope.
    pub namespace: Option<String>,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        match &self.namespace {
            Some(ns) => write!(f, "{} {} ({group}) in `{ns}`", self.verb, self.resource),
            None => write!(
                f,
                "{} {} ({group}) in every namespace",
                self.verb, self.resource
            ),
        }
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";
const RBAC_KINDS: [&str; 4] = [
    "roles",
    "rolebindings",
    "clusterroles",
    "clusterrolebindings",
];
const RBAC_VERBS: [&str; 4] = ["get", "list", "create", "delete"];
const ACCOUNT_VERBS: [&str; 4] = ["get", "list", "create", "delete"];

/// Every permission Wicket needs on a target whose JIT namespace is `jit_namespace` (what
/// `examples/deploy/wicket-rbac.yaml` gives, apart from the grant ceiling).
pub fn required_permissions(jit_namespace: &str) -> Vec<Permission> {
    let jit = Some(jit_namespace.to_owned());
    let mut out: Vec<Permission> = ACCOUNT_VERBS
        .iter()
        .map(|verb| Permission {
            verb,
            group: "",
            resource: "serviceaccounts",
            namespace: jit.clone(),
        })
        .collect();
    out.push(Permission {
        verb: "create",
        group: "",
        resource: "serviceaccounts/token",
        namespace: jit,
    });
    for resource in RBAC_KINDS {
        for verb in RBAC_VERBS {
            out.push(Permission {
                verb,
                group: RBAC,
                resource,
                namespace: None,
            });
        }
    }
    out
}

impl ClusterTarget {
    /// The permissions of [`required_permissions`] that Wicket's identity lacks on this
    /// cluster (empty when it can work). Fails only if the API server cannot answer.
    #[tracing::instrument(skip(self), fields(cluster = %self.name))]
    pub async fn missing_permissions(&self) -> Result<Vec<Permission>> {
        let api = Api::<SelfSubjectAccessReview>::all(self.client.clone());
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.to_owned()),
        };
        let mut missing = Vec::new();
        for permission in required_permissions(&self.jit_namespace) {
            let (resource, subresource) = match permission.resource.split_once('/') {
                Some((r, s)) => (r, Some(s.to_owned())),
                None => (permission.resource, None),
            };
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        verb: Some(permission.verb.to_owned()),
                        group: Some(permission.group.to_owned()),
                        resource: Some(resource.to_owned()),
                        subresource,
                        namespace: permission.namespace.clone(),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            let answer = api
                .create(&params, &review)
                .await
                .map_err(|e| Error::Preflight {
                    cluster: self.name.clone(),
                    source: ApiError::from(e),
                })?;
            if !answer.status.is_some_and(|s| s.allowed) {
                missing.push(permission);
            }
        }
        if !missing.is_empty() {
            tracing::warn!(
                missing = missing.len(),
                "wicket lacks permissions on the cluster"
            );
        }
        Ok(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_checked_in_the_jit_namespace_and_rbac_everywhere() {
        let all = required_permissions("wicket-system");
        assert_eq!(all.len(), 4 + 1 + 16);
        let token = all
            .iter()
            .find(|p| p.resource == "serviceaccounts/token")
            .unwrap();
        assert_eq!(token.namespace.as_deref(), Some("wicket-system"));
        assert!(
            all.iter()
                .filter(|p| p.group == RBAC)
                .all(|p| p.namespace.is_none())
        );
        assert_eq!(
            token.to_string(),
            "create serviceaccounts/token (core) in `wicket-system`"
        );
        assert_eq!(
            all.last().unwrap().to_string(),
            "delete clusterrolebindings (rbac.authorization.k8s.io) in every namespace"
        );
    }
}
