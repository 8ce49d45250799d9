//! Guardrails: what Wicket refuses to grant on a cluster whatever its policies answer —
//! defence in depth under the policy chain, as Kubernetes' escalation check is under RBAC.
//!
//! Per cluster: protected namespaces (the JIT namespace, Wicket's own, `kube-system`,
//! `kube-public`, `kube-node-lease` by default) are never granted; only allowlisted roles are
//! bound, each by its own ClusterRole (`edit` → `wicket-edit`); [rules](rules::forbidden)
//! that let their holder gain more are never granted, in explicit rules and in the
//! ClusterRoles behind bindable roles alike; cluster rules name only cluster-scoped
//! resources the cluster serves. The workflow checks each request before any policy runs and
//! each module's grant after, and binds roles by their ClusterRole.

pub mod pod_security;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::{Access, AccessRequest, Grant, NamespaceGrant, Rule};
use crate::policy::within::short;
pub use pod_security::PodSecurity;
pub use rules::Forbidden;

/// The namespace of JIT ServiceAccounts unless configured otherwise (always protected).
pub const DEFAULT_JIT_NAMESPACE: &str = "wicket-jit";
/// The namespace of Wicket's own ServiceAccount unless configured otherwise (always protected).
pub const DEFAULT_OWN_NAMESPACE: &str = "wicket-system";
/// Namespaces protected on every cluster unless configured otherwise (the JIT namespace and
/// Wicket's own are always protected).
pub const DEFAULT_PROTECTED: [&str; 3] = ["kube-system", "kube-public", "kube-node-lease"];
/// The roles policies may grant by default, and the ClusterRoles that carry them
/// (`examples/deploy/wicket-rbac.yaml`: upstream's roles less the rules never granted).
pub const DEFAULT_ROLES: [(&str, &str); 3] = [
    ("view", "wicket-view"),
    ("edit", "wicket-edit"),
    ("admin", "wicket-admin"),
];

/// Whether a resource lives in namespaces or at cluster scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Namespaced (pods, secrets, roles).
    Namespaced,
    /// Cluster-scoped (nodes, namespaces, clusterroles).
    Cluster,
}

/// What a guardrail refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A protected namespace.
    #[error("namespace `{0}` is protected: no grant may reach it")]
    ProtectedNamespace(String),
    /// A role outside the allowlist.
    #[error("role `{role}` is not bindable here (bindable: {bindable})")]
    RoleNotBindable {
        /// The role.
        role: String,
        /// The allowlist, for the message.
        bindable: String,
    },
    /// A rule never granted.
    #[error("rule `{rule}` in namespace `{namespace}` is never granted: it holds {why}")]
    Rule {
        /// The namespace.
        namespace: String,
        /// The rule, in short form.
        rule: String,
        /// Why.
        why: Forbidden,
    },
    /// A cluster rule never granted.
    #[error("cluster rule `{rule}` is never granted: it holds {why}")]
    ClusterRule {
        /// The rule, in short form.
        rule: String,
        /// Why.
        why: Forbidden,
    },
    /// A cluster rule naming a namespaced resource (it would hold in every namespace).
    #[error(
        "cluster rule `{rule}` names `{resource}`, a namespaced resource: ask for it in namespaces"
    )]
    NamespacedClusterRule {
        /// The rule, in short form.
        rule: String,
        /// The resource.
        resource: String,
    },
    /// A cluster rule naming a resource the cluster does not serve.
    #[error("cluster rule `{rule}` names `{resource}`, which the cluster does not serve")]
    UnknownResource {
        /// The rule, in short form.
        rule: String,
        /// The resource, `group/resource`.
        resource: String,
    },
    /// A grant that may run pods in a namespace that does not enforce Pod Security.
    #[error(
        "namespace `{namespace}` does not enforce Pod Security `{required}` (label \
         `pod-security.kubernetes.io/enforce`), and the grant may run pods there"
    )]
    PodSecurity {
        /// The namespace.
        namespace: String,
        /// The level required.
        required: PodSecurity,
    },
    /// A bindable role whose ClusterRole holds a rule never granted.
    #[error("role `{role}`: ClusterRole `{cluster_role}` holds `{rule}`, never granted: {why}")]
    BindableRole {
        /// The role.
        role: String,
        /// Its ClusterRole.
        cluster_role: String,
        /// The rule, in short form.
        rule: String,
        /// Why.
        why: Forbidden,
    },
}

/// One cluster's guardrails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrails {
    protected: BTreeSet<String>,
    roles: BTreeMap<String, String>,
    secrets_allowed: bool,
    pod_security: PodSecurity,
}

impl Default for Guardrails {
    /// The defaults of a cluster entry: [`DEFAULT_PROTECTED`] plus the default JIT and own
    /// namespaces, [`DEFAULT_ROLES`], no secrets.
    fn default() -> Self {
        let protected = DEFAULT_PROTECTED
            .iter()
            .chain(&[DEFAULT_JIT_NAMESPACE, DEFAULT_OWN_NAMESPACE])
            .map(|n| (*n).to_owned());
        let roles = DEFAULT_ROLES
            .iter()
            .map(|(r, c)| ((*r).to_owned(), (*c).to_owned()))
            .collect();
        Self::new(protected, roles, false)
    }
}

impl Guardrails {
    /// Guardrails protecting `protected` (plus nothing else), binding `roles` (role name →
    /// ClusterRole), granting `secrets` only when `secrets_allowed`.
    pub fn new(
        protected: impl IntoIterator<Item = String>,
        roles: BTreeMap<String, String>,
        secrets_allowed: bool,
    ) -> Self {
        Self {
            protected: protected.into_iter().collect(),
            roles,
            secrets_allowed,
            pod_security: PodSecurity::default(),
        }
    }

    /// These guardrails, requiring `level` of Pod Security where a grant may run pods.
    pub fn with_pod_security(mut self, level: PodSecurity) -> Self {
        self.pod_security = level;
        self
    }

    /// The Pod Security level a namespace must enforce before a grant may run pods there.
    pub fn pod_security(&self) -> PodSecurity {
        self.pod_security
    }

    /// The protected namespaces.
    pub fn protected(&self) -> impl Iterator<Item = &str> {
        self.protected.iter().map(String::as_str)
    }

    /// The bindable roles and their ClusterRoles.
    pub fn roles(&self) -> impl Iterator<Item = (&str, &str)> {
        self.roles.iter().map(|(r, c)| (r.as_str(), c.as_str()))
    }

    /// Checks what `request` asks for (before any policy runs).
    pub fn check_request(&self, request: &AccessRequest) -> Result<(), Violation> {
        for namespace in &request.namespaces {
            self.check_namespace(namespace, &request.access)?;
        }
        self.check_cluster_rules(&request.cluster_rules)
    }

    /// Checks what `grant` gives (a module's, before the host acts on it).
    pub fn check_grant(&self, grant: &Grant) -> Result<(), Violation> {
        for ns in &grant.namespaces {
            self.check_namespace(&ns.namespace, &ns.access)?;
        }
        self.check_cluster_rules(&grant.cluster_rules)
    }

    fn check_namespace(&self, namespace: &str, access: &Access) -> Result<(), Violation> {
        if self.protected.contains(namespace) {
            return Err(Violation::ProtectedNamespace(namespace.to_owned()));
        }
        match access {
            Access::Role(role) => self.cluster_role(role).map(|_| ()),
            Access::Rules(rules) => {
                for rule in rules {
                    if let Some(why) = rules::forbidden(rule, self.secrets_allowed) {
                        return Err(Violation::Rule {
                            namespace: namespace.to_owned(),
                            rule: short(rule),
                            why,
                        });
                    }
                }
                Ok(())
            }
        }
    }

    fn check_cluster_rules(&self, cluster_rules: &[Rule]) -> Result<(), Violation> {
        for rule in cluster_rules {
            if let Some(why) = rules::forbidden(rule, self.secrets_allowed) {
                return Err(Violation::ClusterRule {
                    rule: short(rule),
                    why,
                });
            }
        }
        Ok(())
    }

    /// The ClusterRole that carries `role`, if it is bindable.
    pub fn cluster_role(&self, role: &str) -> Result<&str, Violation> {
        self.roles
            .get(role)
            .map(String::as_str)
            .ok_or_else(|| Violation::RoleNotBindable {
                role: role.to_owned(),
                bindable: self
                    .roles
                    .keys()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// `grant` with every role replaced by the ClusterRole that carries it: what is bound.
    pub fn bind(&self, grant: &Grant) -> Result<Grant, Violation> {
        let mut bound = grant.clone();
        for NamespaceGrant { access, .. } in &mut bound.namespaces {
            if let Access::Role(role) = access {
                *role = self.cluster_role(role)?.to_owned();
            }
        }
        Ok(bound)
    }

    /// Checks the rules of `cluster_role`, the ClusterRole that carries `role`, against the
    /// rules never granted (at start-up and before every bind).
    pub fn check_bindable(
        &self,
        role: &str,
        cluster_role: &str,
        rules: &[Rule],
    ) -> Result<(), Violation> {
        for rule in rules {
            if let Some(why) = rules::forbidden(rule, self.secrets_allowed) {
                return Err(Violation::BindableRole {
                    role: role.to_owned(),
                    cluster_role: cluster_role.to_owned(),
                    rule: short(rule),
                    why,
                });
            }
        }
        Ok(())
    }

    /// Checks that `cluster_rules` name only cluster-scoped resources the cluster serves;
    /// `scope(group, resource)` answers from the cluster's discovery (`None`: not served).
    pub fn check_scopes(
        cluster_rules: &[Rule],
        scope: impl Fn(&str, &str) -> Option<Scope>,
    ) -> Result<(), Violation> {
        for rule in cluster_rules {
            for (group, resource) in resources(rule) {
                let named = if group.is_empty() {
                    resource.to_owned()
                } else {
                    format!("{group}/{resource}")
                };
                match scope(group, resource) {
                    Some(Scope::Cluster) => {}
                    Some(Scope::Namespaced) => {
                        return Err(Violation::NamespacedClusterRule {
                            rule: short(rule),
                            resource: named,
                        });
                    }
                    None => {
                        return Err(Violation::UnknownResource {
                            rule: short(rule),
                            resource: named,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Every (API group, top-level resource) a rule names: what discovery must know.
pub fn resources(rule: &Rule) -> impl Iterator<Item = (&str, &str)> {
    rule.api_groups.iter().flat_map(move |group| {
        rule.resources.iter().map(move |resource| {
            let parent = resource.split_once('/').map_or(resource.as_str(), |p| p.0);
            (group.as_str(), parent)
        })
    })
}

#[cfg(test)]
mod tests;
