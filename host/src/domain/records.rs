//! What was done about a request, as more than one room records it: the Kubernetes objects
//! provisioned for it and each policy module's part in its verdict.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Decision;

/// The kinds of object Wicket creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// A ServiceAccount in the JIT namespace.
    ServiceAccount,
    /// A Role in a granted namespace.
    Role,
    /// A RoleBinding in a granted namespace.
    RoleBinding,
    /// A ClusterRole holding cluster-scoped rules.
    ClusterRole,
    /// A ClusterRoleBinding of that ClusterRole.
    ClusterRoleBinding,
}

impl Kind {
    /// The kind's name as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceAccount => "ServiceAccount",
            Self::Role => "Role",
            Self::RoleBinding => "RoleBinding",
            Self::ClusterRole => "ClusterRole",
            Self::ClusterRoleBinding => "ClusterRoleBinding",
        }
    }
}

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        [
            Self::ServiceAccount,
            Self::Role,
            Self::RoleBinding,
            Self::ClusterRole,
            Self::ClusterRoleBinding,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
        .ok_or_else(|| UnknownKind(text.to_owned()))
    }
}

/// A kind Wicket does not create.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown object kind `{0}`")]
pub struct UnknownKind(String);

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which object: kind, namespace (none for cluster-scoped kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The kind.
    pub kind: Kind,
    /// The namespace; `None` for ClusterRoles and ClusterRoleBindings.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// A ServiceAccount.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Self {
            kind: Kind::ServiceAccount,
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    /// A Role.
    pub fn role(namespace: &str, name: &str) -> Self {
        Self {
            kind: Kind::Role,
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    /// A RoleBinding.
    pub fn role_binding(namespace: &str, name: &str) -> Self {
        Self {
            kind: Kind::RoleBinding,
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        }
    }

    /// A ClusterRole.
    pub fn cluster_role(name: &str) -> Self {
        Self {
            kind: Kind::ClusterRole,
            namespace: None,
            name: name.to_owned(),
        }
    }

    /// A ClusterRoleBinding.
    pub fn cluster_role_binding(name: &str) -> Self {
        Self {
            kind: Kind::ClusterRoleBinding,
            namespace: None,
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} `{ns}/{}`", self.kind, self.name),
            None => write!(f, "{} `{}`", self.kind, self.name),
        }
    }
}

/// One policy module's part in a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleVerdict {
    /// The module's configured name.
    pub module: String,
    /// sha256 of the module's bytes, hex.
    pub digest: String,
    /// Its decision; `None` when it failed (trap, timeout, malformed answer) or did not run.
    pub decision: Option<Decision>,
    /// How long it took, in microseconds.
    pub duration_us: u64,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When it did not run: the earlier module whose deny stopped the chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_after: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_refs_print_kind_namespace_and_name() {
        assert_eq!(
            ObjectRef::role("payments", "wicket-r1").to_string(),
            "Role `payments/wicket-r1`"
        );
        assert_eq!(
            ObjectRef::cluster_role("wicket-r1").to_string(),
            "ClusterRole `wicket-r1`"
        );
    }

    #[test]
    fn kinds_read_back_as_written() {
        for kind in [
            Kind::ServiceAccount,
            Kind::Role,
            Kind::RoleBinding,
            Kind::ClusterRole,
            Kind::ClusterRoleBinding,
        ] {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        assert!("Secret".parse::<Kind>().is_err());
    }
}
