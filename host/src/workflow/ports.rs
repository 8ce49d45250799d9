//! What the workflow needs from the policy engine and from the clusters, as two small
//! traits. The workflow owns the state machine; these answer "what does policy say" and
//! "make it so on the cluster". The real implementations wrap the policy chains and the
//! cluster targets; a native-Rust rule implements [`Decider`] for benchmark comparisons.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use jiff::Timestamp;

use crate::policy::types::{AccessRequest, Decision, Grant, Identity};
use crate::store::{ModuleVerdict, ObjectRef};

/// A boxed, sendable future (the traits are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The combined verdict of a cluster's policy chain, with every module's part.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainVerdict {
    /// The combined decision.
    pub decision: Decision,
    /// Each module's verdict, digest and duration, in chain order.
    pub modules: Vec<ModuleVerdict>,
    /// Wall time of the whole decision.
    pub duration: Duration,
}

/// Decides access requests: one chain per configured cluster.
pub trait Decider: Send + Sync {
    /// The verdict of `request.cluster`'s chain; `None` when that cluster has no chain.
    /// Never fails: a failing module is a deny inside the verdict.
    fn decide(&self, identity: &Identity, request: &AccessRequest) -> Option<ChainVerdict>;

    /// The loaded chains, their modules and digests, for `GET /v1/policies`.
    fn describe(&self) -> serde_json::Value;
}

/// What to provision for an allowed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionPlan {
    /// The request's id (names and labels every object).
    pub request_id: String,
    /// The requester's subject (an annotation).
    pub requester: String,
    /// The requester's reason (an annotation).
    pub reason: String,
    /// When the grant ends.
    pub expires_at: Timestamp,
    /// Exactly what to grant.
    pub grant: Grant,
}

/// A cluster operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ClusterFailure {
    /// The provisioning step that failed (`service-account`, `role-binding`, ...), if any.
    pub step: Option<String>,
    /// What went wrong, without secrets.
    pub message: String,
}

/// An object labelled as managed by Wicket, as found on a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedObject {
    /// The object.
    pub object: ObjectRef,
    /// Its request label; `None` for an object without one.
    pub request_id: Option<String>,
    /// Its expiry annotation, when readable.
    pub expires_at: Option<Timestamp>,
}

/// A kubeconfig for the requester. Its text is a secret: it has no `Debug` that shows it.
pub struct IssuedKubeconfig {
    /// The YAML text.
    pub yaml: String,
    /// When the token inside stops working.
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for IssuedKubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKubeconfig")
            .field("yaml", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The clusters Wicket provisions on, by configured name.
pub trait Clusters: Send + Sync {
    /// The configured cluster names.
    fn names(&self) -> Vec<String>;

    /// Creates the ServiceAccount and RBAC of `plan` on `cluster`, all or nothing (a failed
    /// step rolls back what was created); returns the objects, in creation order.
    fn provision<'a>(
        &'a self,
        cluster: &'a str,
        plan: &'a ProvisionPlan,
    ) -> BoxFuture<'a, Result<Vec<ObjectRef>, ClusterFailure>>;

    /// Deletes every object of `request_id` (ServiceAccount first); idempotent. Returns what
    /// it deleted.
    fn teardown<'a>(
        &'a self,
        cluster: &'a str,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ObjectRef>, ClusterFailure>>;

    /// Mints a token for the request's ServiceAccount (lifetime at least `ttl`) and renders
    /// a kubeconfig around it.
    fn kubeconfig<'a>(
        &'a self,
        cluster: &'a str,
        request_id: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<IssuedKubeconfig, ClusterFailure>>;

    /// Every Wicket-labelled object on `cluster`.
    fn list_managed<'a>(
        &'a self,
        cluster: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ManagedObject>, ClusterFailure>>;

    /// Deletes one managed object (gone already is fine).
    fn delete_managed<'a>(
        &'a self,
        cluster: &'a str,
        object: &'a ManagedObject,
    ) -> BoxFuture<'a, Result<(), ClusterFailure>>;
}
