//! What was done about a request, as more than one room records it: the Kubernetes objects
//! provisioned for it and each policy module's part in its verdict.

use serde::{Deserialize, Serialize};

use super::Decision;

/// A Kubernetes object, by kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// The kind, e.g. `ServiceAccount`, `RoleBinding`.
    pub kind: String,
    /// The namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
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
