//! Everything Wicket does to a Kubernetes cluster: provisioning a grant as a short-lived
//! ServiceAccount with exactly the granted RBAC, issuing its kubeconfig, tearing it down, and
//! listing what Wicket manages for the reconciler. It knows nothing of HTTP, the store or the
//! workflow.
//!
//! Every object is named `wicket-<request id>` (DNS-1123-safe), labelled
//! `app.kubernetes.io/managed-by=wicket`, `wicket.dev/request=<id>`,
//! `wicket.dev/installation=<installation id>` and `wicket.dev/cluster=<cluster entry>`,
//! annotated with the requester, the expiry and the reason, and written with field manager
//! `wicket`. Teardown and the reconciler select by the installation and cluster labels too, so
//! Wicket never deletes what another installation or another cluster entry created.
//!
//! ```no_run
//! # async fn example(spec: wicket::cluster::ProvisionSpec) -> wicket::cluster::Result<()> {
//! use wicket::cluster::{ClusterTarget, Connection, TargetSettings};
//!
//! let settings = TargetSettings::new(
//!     "prod",
//!     Connection::Kubeconfig { path: "/etc/wicket/kubeconfig".into(), context: None },
//! );
//! let target = ClusterTarget::connect(&settings).await?;
//! let provisioned = target.provision(&spec).await?; // all or nothing
//! let yaml = provisioned.credential.kubeconfig.expose(); // to the requester only
//! # let _ = yaml;
//! // ServiceAccount first: every token dies with it
//! target.teardown(&spec.installation, &spec.request_id).await?;
//! # Ok(())
//! # }
//! ```

mod credential;
mod discovery;
mod error;
mod manifest;
mod names;
mod objects;
mod preflight;
mod provision;
mod target;
mod teardown;

pub use credential::{Credential, MIN_TOKEN_SECONDS, Secret};
pub use error::{
    ApiError, Error, ProvisionFailure, ProvisionStep, Result, StepFailure, TeardownFailure,
};
pub use manifest::{WICKET_ACCOUNT, WICKET_RBAC, apply};
pub use names::{
    CLUSTER_LABEL, Claim, EXPIRES_AT_ANNOTATION, FIELD_MANAGER, INSTALLATION_LABEL,
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAMESPACE_ANNOTATION, Owner, REASON_ANNOTATION,
    REQUEST_LABEL, REQUESTER_ANNOTATION, legacy_selector, object_name,
};
pub use preflight::{Excess, Permission, excess_probes, required_permissions};
pub use provision::{Outcome, ProvisionSpec, Provisioned, StepRecord};
pub use target::{ClusterTarget, Connection, DEFAULT_REQUEST_TIMEOUT, Endpoint, TargetSettings};
pub use teardown::{Deleted, ManagedObject, TeardownReport};
