//! Errors of the cluster room. Kubernetes `Status` answers (reason and code, e.g. `Forbidden`
//! 403) are kept so the workflow can report and audit the cause.

use std::fmt;
use std::path::PathBuf;

use kube::core::Status;

use crate::domain::ObjectRef;

/// One step of provisioning, in the order they run; named in errors and useful for audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProvisionStep {
    /// Creating the ServiceAccount in the JIT namespace.
    ServiceAccount,
    /// Creating a Role with the granted rules in a granted namespace.
    Role,
    /// Creating a RoleBinding in a granted namespace.
    RoleBinding,
    /// Creating the ClusterRole holding the cluster-scoped rules.
    ClusterRole,
    /// Creating the ClusterRoleBinding of that ClusterRole.
    ClusterRoleBinding,
    /// Requesting a token for the ServiceAccount.
    TokenRequest,
}

impl ProvisionStep {
    /// The step's stable name, e.g. `role-binding`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceAccount => "service-account",
            Self::Role => "role",
            Self::RoleBinding => "role-binding",
            Self::ClusterRole => "cluster-role",
            Self::ClusterRoleBinding => "cluster-role-binding",
            Self::TokenRequest => "token-request",
        }
    }
}

impl fmt::Display for ProvisionStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call to the Kubernetes API failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API server answered with a failure `Status`.
    #[error("the api server answered {code} {reason}: {message}")]
    Status {
        /// HTTP code, e.g. 403.
        code: u16,
        /// Status reason, e.g. `Forbidden`.
        reason: String,
        /// Status message.
        message: String,
    },
    /// The request did not get a `Status` answer (connection, TLS, decoding).
    #[error("the api server could not be reached or answered garbage")]
    Transport(#[source] kube::Error),
}

impl From<kube::Error> for ApiError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(status) => {
                let Status {
                    code,
                    reason,
                    message,
                    ..
                } = *status;
                Self::Status {
                    code,
                    reason,
                    message,
                }
            }
            other => Self::Transport(other),
        }
    }
}

impl ApiError {
    /// HTTP code and reason of a `Status` answer.
    pub fn status(&self) -> Option<(u16, &str)> {
        match self {
            Self::Status { code, reason, .. } => Some((*code, reason)),
            Self::Transport(_) => None,
        }
    }

    /// Whether the answer was 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Status { code: 404, .. })
    }

    /// Whether the answer was 409 AlreadyExists.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, Self::Status { code: 409, reason, .. } if reason == "AlreadyExists")
    }
}

/// Why one provisioning step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    /// The API call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// An object of that name exists but was not created for this request by this
    /// installation's cluster entry.
    #[error("an object of that name exists and does not belong to this request")]
    Foreign,
    /// An object of this request exists with other content (rules, role or subjects).
    #[error("an object of this request exists with different content")]
    Mismatch,
    /// The token answer held no token.
    #[error("the token answer held no token")]
    EmptyToken,
    /// The kubeconfig could not be rendered.
    #[error("cannot render the kubeconfig")]
    Render(#[source] serde_saphyr::SerializeError),
}

/// A failed provisioning step and what its rollback did.
#[derive(Debug, thiserror::Error)]
#[error("provisioning step `{step}` failed on {object}")]
pub struct ProvisionFailure {
    /// The step that failed.
    pub step: ProvisionStep,
    /// The object the step was writing.
    pub object: ObjectRef,
    /// Objects rolled back (deleted, or found already gone), in the order they were deleted.
    pub rolled_back: Vec<ObjectRef>,
    /// Objects whose rollback failed; the reconciler removes them later, found by their labels.
    pub left_behind: Vec<ObjectRef>,
    /// The cause.
    #[source]
    pub source: StepFailure,
}

/// One object or listing teardown could not handle.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {error}")]
pub struct TeardownFailure {
    /// The object (``ServiceAccount `ns/name` ``) or listing (`list RoleBindings`).
    pub what: String,
    /// Why.
    pub error: ApiError,
}

fn describe(failures: &[TeardownFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Errors of the cluster room.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request id cannot be a label value.
    #[error(
        "request id `{id}` must be 1 to 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"
    )]
    InvalidRequestId {
        /// The id given.
        id: String,
    },
    /// An installation id or cluster name cannot be a label value.
    #[error(
        "{what} `{value}` must be 1 to 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"
    )]
    InvalidLabel {
        /// What it is (`installation id`, `cluster name`).
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// The grant cannot be provisioned as given.
    #[error("invalid grant: {reason}")]
    InvalidGrant {
        /// What is wrong.
        reason: String,
    },
    /// The target's settings are unusable.
    #[error("invalid settings for cluster `{cluster}`: {reason}")]
    InvalidTarget {
        /// The cluster's name.
        cluster: String,
        /// What is wrong.
        reason: String,
    },
    /// The kubeconfig could not be read or has no usable context.
    #[error("cannot load kubeconfig `{}` for cluster `{cluster}`", path.display())]
    Kubeconfig {
        /// The cluster's name.
        cluster: String,
        /// The kubeconfig file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The in-cluster configuration could not be read.
    #[error("cannot read the in-cluster configuration for cluster `{cluster}`")]
    InCluster {
        /// The cluster's name.
        cluster: String,
        /// The cause.
        #[source]
        source: kube::config::InClusterError,
    },
    /// A client could not be built from the configuration.
    #[error("cannot build a kubernetes client for cluster `{cluster}`")]
    Client {
        /// The cluster's name.
        cluster: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// A provisioning step failed; everything the call had put in place was rolled back
    /// except what [`ProvisionFailure::left_behind`] lists.
    #[error(transparent)]
    Provision(Box<ProvisionFailure>),
    /// A credential could not be issued for an existing grant.
    #[error("cannot issue a credential for request `{request_id}`")]
    Credential {
        /// The request id.
        request_id: String,
        /// The cause.
        #[source]
        source: StepFailure,
    },
    /// Some objects could not be listed or deleted during teardown; the others were deleted.
    #[error("teardown of request `{request_id}` failed: {}", describe(failures))]
    Teardown {
        /// The request id.
        request_id: String,
        /// What was deleted despite the failures.
        deleted: Vec<ObjectRef>,
        /// What failed, with why.
        failures: Vec<TeardownFailure>,
    },
    /// Wicket's own permissions could not be reviewed.
    #[error("cannot review wicket's permissions on cluster `{cluster}`")]
    Preflight {
        /// The cluster's name.
        cluster: String,
        /// The cause.
        #[source]
        source: ApiError,
    },
    /// A manifest object could not be created.
    #[error("cannot create a `{kind}` on cluster `{cluster}`")]
    Apply {
        /// The cluster's name.
        cluster: String,
        /// The object's kind.
        kind: String,
        /// The cause.
        #[source]
        source: ApiError,
    },
    /// The cluster's discovery could not be read.
    #[error("cannot read the discovery of api group `{group}` on cluster `{cluster}`")]
    Discovery {
        /// The cluster's name.
        cluster: String,
        /// The API group (`""`: core).
        group: String,
        /// The cause.
        #[source]
        source: ApiError,
    },
    /// A namespace could not be read.
    #[error("cannot read namespace `{name}` on cluster `{cluster}`")]
    ReadNamespace {
        /// The cluster's name.
        cluster: String,
        /// The namespace.
        name: String,
        /// The cause.
        #[source]
        source: ApiError,
    },
    /// A ClusterRole could not be read.
    #[error("cannot read ClusterRole `{name}` on cluster `{cluster}`")]
    ReadRole {
        /// The cluster's name.
        cluster: String,
        /// The ClusterRole.
        name: String,
        /// The cause.
        #[source]
        source: ApiError,
    },
    /// Listing managed objects failed.
    #[error("cannot list managed {kind}")]
    List {
        /// The kind (plural) being listed.
        kind: &'static str,
        /// The cause.
        #[source]
        source: ApiError,
    },
}

impl Error {
    /// The provisioning step that failed, if this is a provisioning failure.
    pub fn step(&self) -> Option<ProvisionStep> {
        match self {
            Self::Provision(failure) => Some(failure.step),
            Self::Credential { .. } => Some(ProvisionStep::TokenRequest),
            _ => None,
        }
    }

    /// The Kubernetes `Status` code and reason behind this error, if the API server answered one.
    pub fn status(&self) -> Option<(u16, &str)> {
        match self {
            Self::Provision(failure) => match &failure.source {
                StepFailure::Api(api) => api.status(),
                _ => None,
            },
            Self::Credential {
                source: StepFailure::Api(api),
                ..
            }
            | Self::List { source: api, .. }
            | Self::Preflight { source: api, .. }
            | Self::Discovery { source: api, .. }
            | Self::Apply { source: api, .. }
            | Self::ReadRole { source: api, .. }
            | Self::ReadNamespace { source: api, .. } => api.status(),
            Self::Teardown { failures, .. } => failures.iter().find_map(|f| f.error.status()),
            _ => None,
        }
    }

    /// A short stable name of the error's kind, for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequestId { .. } => "invalid-request-id",
            Self::InvalidLabel { .. } => "invalid-label",
            Self::InvalidGrant { .. } => "invalid-grant",
            Self::InvalidTarget { .. }
            | Self::Kubeconfig { .. }
            | Self::InCluster { .. }
            | Self::Client { .. } => "configuration",
            Self::Provision(_) => "provision",
            Self::Credential { .. } => "credential",
            Self::Teardown { .. } => "teardown",
            Self::List { .. } => "list",
            Self::Preflight { .. } => "preflight",
            Self::Discovery { .. } => "discovery",
            Self::Apply { .. } => "apply",
            Self::ReadRole { .. } => "read-role",
            Self::ReadNamespace { .. } => "read-namespace",
        }
    }
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_answer_keeps_code_reason_and_message() {
        let status = Status::failure("pods is forbidden: User \"x\" cannot list", "Forbidden")
            .with_code(403);
        let api = ApiError::from(kube::Error::Api(Box::new(status)));
        assert_eq!(api.status(), Some((403, "Forbidden")));
        assert_eq!(
            api.to_string(),
            "the api server answered 403 Forbidden: pods is forbidden: User \"x\" cannot list"
        );
        let err = Error::Provision(Box::new(ProvisionFailure {
            step: ProvisionStep::RoleBinding,
            object: ObjectRef::role_binding("payments", "wicket-r1"),
            rolled_back: vec![],
            left_behind: vec![],
            source: StepFailure::Api(api),
        }));
        assert_eq!(err.status(), Some((403, "Forbidden")));
        assert_eq!(err.step(), Some(ProvisionStep::RoleBinding));
        assert_eq!(
            err.to_string(),
            "provisioning step `role-binding` failed on RoleBinding `payments/wicket-r1`"
        );
    }

    #[test]
    fn already_exists_is_recognised_by_reason() {
        let exists = ApiError::Status {
            code: 409,
            reason: "AlreadyExists".into(),
            message: String::new(),
        };
        let conflict = ApiError::Status {
            code: 409,
            reason: "Conflict".into(),
            message: String::new(),
        };
        assert!(exists.is_already_exists());
        assert!(!conflict.is_already_exists());
    }

    #[test]
    fn steps_have_stable_names() {
        let all = [
            ProvisionStep::ServiceAccount,
            ProvisionStep::Role,
            ProvisionStep::RoleBinding,
            ProvisionStep::ClusterRole,
            ProvisionStep::ClusterRoleBinding,
            ProvisionStep::TokenRequest,
        ];
        let names: Vec<_> = all.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names,
            [
                "service-account",
                "role",
                "role-binding",
                "cluster-role",
                "cluster-role-binding",
                "token-request"
            ]
        );
        for s in all {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::String(s.as_str().into())
            );
        }
    }
}
