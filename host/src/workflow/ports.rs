//! What the workflow needs from the policy engine and from the clusters, as two small
//! traits. The workflow owns the state machine; these answer "what does policy say" and
//! "make it so on the cluster". The real implementations wrap the policy chains and the
//! cluster targets; a native-Rust rule implements [`Decider`] for benchmark comparisons.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{AccessRequest, Grant, Identity, ModuleVerdict, ObjectRef, Rule};
use crate::guard::{Guardrails, Scope};
use crate::policy::set::{ChangedChain, Promotion};
use crate::policy::{Rejection, Verdict, pool};

/// A boxed, sendable future (the traits are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The combined verdict of a cluster's policy chain, with every module's part.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainVerdict {
    /// The combined decision: each module's approval requirement apart.
    pub decision: Verdict,
    /// Each module's verdict, digest and duration, in chain order.
    pub modules: Vec<ModuleVerdict>,
    /// Wall time of the whole decision.
    pub duration: Duration,
    /// Where a candidate module (shadow evaluation) decided otherwise than the active one;
    /// these never count.
    pub differences: Vec<ShadowDifference>,
}

/// A candidate module that decided a live request otherwise than the active module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowDifference {
    /// What the active module said (this counted).
    pub active: ModuleVerdict,
    /// What the candidate said (this did not).
    pub candidate: ModuleVerdict,
}

/// Decides access requests: one chain per configured cluster.
pub trait Decider: Send + Sync {
    /// The verdict of `request.cluster`'s chain; `None` when that cluster has no chain.
    /// A failing module is a deny inside the verdict; `Err` only when no decision could be
    /// made at all (every evaluation thread busy and the queue full), which refuses the request.
    fn decide<'a>(
        &'a self,
        identity: &'a Identity,
        request: &'a AccessRequest,
    ) -> BoxFuture<'a, Result<Option<ChainVerdict>, pool::Error>>;

    /// The loaded chains, their modules and digests, for `GET /v1/policies`.
    fn describe(&self) -> serde_json::Value;

    /// Reloading and promoting, when this decider's policies can change while serving.
    fn lifecycle(&self) -> Option<&dyn PolicyLifecycle> {
        None
    }
}

/// Policies that change while serving: reloads (serialised, one at a time) and promotions
/// of candidates.
pub trait PolicyLifecycle: Send + Sync {
    /// Re-reads the policy sources, validates and compiles off the request path, and swaps
    /// the chains that changed. `trigger` says what asked (`api`, `sighup`, `watch`, ...);
    /// a `watch` reload defers files that are still being written.
    fn reload<'a>(&'a self, trigger: &'a str) -> BoxFuture<'a, ReloadReport>;

    /// Makes the candidate of chain entry `entry` active (in `cluster` only, or in every
    /// cluster whose chain has such an entry with a candidate), then reloads. Returns what
    /// was promoted (nothing when there was no such candidate) and the reload.
    fn promote<'a>(
        &'a self,
        entry: &'a str,
        cluster: Option<&'a str>,
    ) -> BoxFuture<'a, (Vec<Promotion>, ReloadReport)>;

    /// Applies recorded promotions (by an earlier run at start, `trigger` `restore`, or by
    /// another replica, `replica`): those whose candidate is still the configured one, then
    /// reloads.
    fn restore<'a>(
        &'a self,
        promotions: Vec<Promotion>,
        trigger: &'a str,
    ) -> BoxFuture<'a, ReloadReport>;

    /// The files whose changes matter: the configuration file (when reloads re-read it)
    /// and every configured module and candidate file.
    fn watched(&self) -> Vec<PathBuf>;
}

/// What a reload did.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    /// What asked for it.
    pub trigger: String,
    /// The generation serving after it.
    pub generation: u64,
    /// Whether a new set was swapped in (false when nothing changed or all was refused).
    pub swapped: bool,
    /// The clusters whose chain changed, with their new modules.
    pub changed: Vec<ChangedChain>,
    /// What was refused; the chains concerned keep their previous version.
    pub rejected: Vec<Rejection>,
    /// Module files still being written, to be retried.
    pub deferred: Vec<PathBuf>,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
}

impl ReloadReport {
    /// A reload that did nothing, at `generation`.
    pub fn nothing(trigger: &str, generation: u64) -> Self {
        Self {
            trigger: trigger.to_owned(),
            generation,
            swapped: false,
            changed: Vec::new(),
            rejected: Vec::new(),
            deferred: Vec::new(),
            duration_ms: 0.0,
        }
    }
}

/// What to provision for an allowed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionPlan {
    /// This installation's id (labels every object, with the cluster entry's name).
    pub installation: String,
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

/// An object labelled as managed by this installation's cluster entry (or, for
/// [`Clusters::list_legacy`], by a Wicket before installation labels), as found on a cluster.
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

/// The clusters Wicket provisions on, by configured name. Every object is labelled with the
/// installation and the cluster entry, and every call that finds objects selects by both: what
/// another installation, or another cluster entry on the same API server, created is never
/// touched.
pub trait Clusters: Send + Sync {
    /// The configured cluster names.
    fn names(&self) -> Vec<String>;

    /// What is never granted on `cluster`; `None` for a cluster that is not configured.
    fn guardrails(&self, cluster: &str) -> Option<&Guardrails>;

    /// `Ok` when Wicket's review of its own identity on `cluster` has passed (it holds no
    /// more than it needs); otherwise why the cluster's requests are denied.
    fn reviewed<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<(), String>>;

    /// Whether `resource` of API group `group` is namespaced or cluster-scoped on `cluster`,
    /// from its discovery; `None` when the cluster does not serve it.
    fn resource_scope<'a>(
        &'a self,
        cluster: &'a str,
        group: &'a str,
        resource: &'a str,
    ) -> BoxFuture<'a, Result<Option<Scope>, ClusterFailure>>;

    /// The labels of namespace `namespace` on `cluster`; `None` when it does not exist.
    fn namespace_labels<'a>(
        &'a self,
        cluster: &'a str,
        namespace: &'a str,
    ) -> BoxFuture<'a, Result<Option<BTreeMap<String, String>>, ClusterFailure>>;

    /// The resource rules of ClusterRole `name` on `cluster`; `None` when it does not exist.
    fn cluster_role_rules<'a>(
        &'a self,
        cluster: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<Rule>>, ClusterFailure>>;

    /// Creates the ServiceAccount and RBAC of `plan` on `cluster`, all or nothing (a failed
    /// step rolls back what was created); returns the objects, in creation order.
    fn provision<'a>(
        &'a self,
        cluster: &'a str,
        plan: &'a ProvisionPlan,
    ) -> BoxFuture<'a, Result<Vec<ObjectRef>, ClusterFailure>>;

    /// Deletes every object of `installation`'s request `request_id` (ServiceAccount first),
    /// and those of the request made before installation labels; idempotent. Returns what it
    /// deleted.
    fn teardown<'a>(
        &'a self,
        cluster: &'a str,
        installation: &'a str,
        request_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ObjectRef>, ClusterFailure>>;

    /// Mints a token for the request's ServiceAccount (lifetime at least `ttl`), if it is
    /// `installation`'s, and renders a kubeconfig around it.
    fn kubeconfig<'a>(
        &'a self,
        cluster: &'a str,
        installation: &'a str,
        request_id: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<IssuedKubeconfig, ClusterFailure>>;

    /// Every object `installation` created through cluster entry `cluster`.
    fn list_managed<'a>(
        &'a self,
        cluster: &'a str,
        installation: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ManagedObject>, ClusterFailure>>;

    /// Every Wicket-labelled object on `cluster` without an installation label (made by a
    /// version before those labels, by any installation).
    fn list_legacy<'a>(
        &'a self,
        cluster: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ManagedObject>, ClusterFailure>>;

    /// Deletes one managed object; whether this call deleted it (`false`: it was gone
    /// already, which is fine: whoever deleted it audits that).
    fn delete_managed<'a>(
        &'a self,
        cluster: &'a str,
        object: &'a ManagedObject,
    ) -> BoxFuture<'a, Result<bool, ClusterFailure>>;
}
