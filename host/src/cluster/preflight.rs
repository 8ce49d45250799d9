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

/// A permission Wicket must not hold: with it, a mistake or a compromise of Wicket reaches
/// further than the guardrails let grants reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excess {
    /// The verb probed.
    pub verb: &'static str,
    /// The API group probed.
    pub group: &'static str,
    /// The resource probed, optionally `resource/subresource`.
    pub resource: &'static str,
    /// The namespace probed, or `None` for every namespace / cluster scope.
    pub namespace: Option<String>,
    /// The object name probed, if any.
    pub name: Option<String>,
    /// What to remove from Wicket's RBAC.
    pub remove: &'static str,
}

impl fmt::Display for Excess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            self.group
        };
        write!(f, "{} {} ({group})", self.verb, self.resource)?;
        if let Some(name) = &self.name {
            write!(f, " `{name}`")?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " in `{ns}`")?,
            None => write!(f, " in every namespace")?,
        }
        write!(f, ": remove {}", self.remove)
    }
}

/// Probes for permissions beyond what Wicket needs, given its own namespace (where no token
/// may be minted) and the ClusterRoles it may bind (`bind` on any other is excess).
pub fn excess_probes(own_namespace: &str, bindable: &[&str]) -> Vec<Excess> {
    let probe =
        |verb, group, resource, namespace: Option<&str>, name: Option<&str>, remove| Excess {
            verb,
            group,
            resource,
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            remove,
        };
    // A verb, a resource or an API group no rule names: only a wildcard in that field allows
    // it, whatever the other fields name (real ones, in the core and `apps` groups).
    let mut out = Vec::new();
    for (group, resource) in [("", "pods"), ("apps", "deployments")] {
        out.push(probe(
            "wicket-preflight",
            group,
            resource,
            None,
            None,
            "`*` from verbs",
        ));
    }
    for group in ["", "apps"] {
        out.push(probe(
            "get",
            group,
            "wicket-preflight-probes",
            None,
            None,
            "`*` from resources",
        ));
    }
    out.push(probe(
        "get",
        "preflight.wicket.dev",
        "pods",
        None,
        None,
        "`*` from API groups",
    ));
    for resource in ["clusterroles", "roles"] {
        out.push(probe("escalate", RBAC, resource, None, None, "`escalate`"));
    }
    for resource in ["users", "groups", "serviceaccounts"] {
        out.push(probe(
            "impersonate",
            "",
            resource,
            None,
            None,
            "`impersonate`",
        ));
    }
    let unbindable = [
        "cluster-admin",
        "admin",
        "edit",
        "wicket-preflight-unbindable",
    ];
    for name in unbindable.into_iter().filter(|n| !bindable.contains(n)) {
        out.push(probe(
            "bind",
            RBAC,
            "clusterroles",
            None,
            Some(name),
            "`bind` on ClusterRoles other than the cluster's `roles`",
        ));
    }
    for namespace in [own_namespace, "kube-system"] {
        out.push(probe(
            "create",
            "",
            "serviceaccounts/token",
            Some(namespace),
            None,
            "`create serviceaccounts/token` outside the JIT namespace",
        ));
    }
    out.push(probe(
        "get",
        "",
        "secrets",
        Some("kube-system"),
        None,
        "access to `secrets`",
    ));
    // Running pods where powerful accounts live is holding those accounts.
    for namespace in [own_namespace, "kube-system"] {
        out.push(probe(
            "create",
            "",
            "pods",
            Some(namespace),
            None,
            "creating pods where Wicket's or the system's accounts live",
        ));
    }
    for (group, resource) in [
        (
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
        ),
        ("", "nodes/proxy"),
    ] {
        out.push(probe(
            "create",
            group,
            resource,
            None,
            None,
            "admission webhooks and the kubelet's API",
        ));
    }
    out
}

impl ClusterTarget {
    /// Whether Wicket's identity may do what `attributes` describe (a
    /// SelfSubjectAccessReview).
    async fn allowed(&self, attributes: ResourceAttributes) -> Result<bool> {
        let api = Api::<SelfSubjectAccessReview>::all(self.client.clone());
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.to_owned()),
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(attributes),
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
        Ok(answer.status.is_some_and(|s| s.allowed))
    }

    /// The permissions of [`required_permissions`] that Wicket's identity lacks on this
    /// cluster (empty when it can work). Fails only if the API server cannot answer.
    #[tracing::instrument(skip(self), fields(cluster = %self.name))]
    pub async fn missing_permissions(&self) -> Result<Vec<Permission>> {
        let mut missing = Vec::new();
        for permission in required_permissions(&self.jit_namespace) {
            let (resource, subresource) = split(permission.resource);
            let attributes = ResourceAttributes {
                verb: Some(permission.verb.to_owned()),
                group: Some(permission.group.to_owned()),
                resource: Some(resource.to_owned()),
                subresource,
                namespace: permission.namespace.clone(),
                ..ResourceAttributes::default()
            };
            if !self.allowed(attributes).await? {
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

    /// What Wicket's identity holds beyond what it needs ([`excess_probes`]); empty when
    /// nothing. Fails only if the API server cannot answer.
    #[tracing::instrument(skip(self, bindable), fields(cluster = %self.name))]
    pub async fn excess_permissions(
        &self,
        own_namespace: &str,
        bindable: &[&str],
    ) -> Result<Vec<Excess>> {
        let mut excess = Vec::new();
        for probe in excess_probes(own_namespace, bindable) {
            let (resource, subresource) = split(probe.resource);
            let attributes = ResourceAttributes {
                verb: Some(probe.verb.to_owned()),
                group: Some(probe.group.to_owned()),
                resource: Some(resource.to_owned()),
                subresource,
                namespace: probe.namespace.clone(),
                name: probe.name.clone(),
                ..ResourceAttributes::default()
            };
            if self.allowed(attributes).await? {
                excess.push(probe);
            }
        }
        Ok(excess)
    }
}

fn split(resource: &str) -> (&str, Option<String>) {
    match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_owned())),
        None => (resource, None),
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

    #[test]
    fn bind_is_probed_only_on_roles_that_are_not_bindable() {
        let probes = excess_probes("wicket-system", &["wicket-view", "edit"]);
        let bound: Vec<&str> = probes
            .iter()
            .filter(|p| p.verb == "bind")
            .filter_map(|p| p.name.as_deref())
            .collect();
        assert_eq!(
            bound,
            ["cluster-admin", "admin", "wicket-preflight-unbindable"]
        );
        let token = probes
            .iter()
            .find(|p| p.resource == "serviceaccounts/token")
            .unwrap();
        assert_eq!(
            token.to_string(),
            "create serviceaccounts/token (core) in `wicket-system`: remove \
             `create serviceaccounts/token` outside the JIT namespace"
        );
    }
}
