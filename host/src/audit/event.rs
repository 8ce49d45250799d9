//! What an audit event says: a typed set of event kinds, so that nothing but the fields
//! listed here can reach the log.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{Access, Identity, ModuleVerdict, ObjectRef, Rule};
use crate::policy::Verdict;
use crate::policy::set::ChangedChain;

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// A person or workload, by its verified token.
    User {
        /// The token's `iss`.
        issuer: String,
        /// The token's `sub`.
        subject: String,
    },
    /// Wicket itself, naming the part that acted (`workflow`, `expiry`, `reconciler`, ...).
    Service {
        /// The acting part.
        component: String,
    },
    /// A caller whose token did not verify.
    Anonymous,
}

impl Actor {
    /// The actor for a verified identity.
    pub fn user(identity: &Identity) -> Self {
        Self::User {
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
        }
    }

    /// Wicket's own `component` acting.
    pub fn service(component: &str) -> Self {
        Self::Service {
            component: component.to_owned(),
        }
    }
}

/// Which live requests the kill switch ends. As JSON (the API body and the audit event alike):
/// `{"subject":{"issuer":"…","sub":"…"}}`, `{"cluster":"…"}` or `{"all":true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScopeFields", into = "ScopeFields")]
pub enum RevocationScope {
    /// Every request of one subject of one issuer.
    Subject {
        /// The token issuer (`iss`).
        issuer: String,
        /// The subject (`sub`).
        sub: String,
    },
    /// Every request for one cluster.
    Cluster(String),
    /// Every request.
    All,
}

/// A subject as `{"issuer","sub"}`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectFields {
    issuer: String,
    sub: String,
}

/// [`RevocationScope`] as JSON: exactly one of the fields.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<SubjectFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    all: Option<bool>,
}

impl TryFrom<ScopeFields> for RevocationScope {
    type Error = String;

    fn try_from(fields: ScopeFields) -> Result<Self, String> {
        match (fields.subject, fields.cluster, fields.all) {
            (Some(SubjectFields { issuer, sub }), None, None) => {
                if issuer.is_empty() || sub.is_empty() {
                    Err("`subject` needs a non-empty `issuer` and `sub`".to_owned())
                } else {
                    Ok(Self::Subject { issuer, sub })
                }
            }
            (None, Some(cluster), None) if cluster.is_empty() => {
                Err("`cluster` must not be empty".to_owned())
            }
            (None, Some(cluster), None) => Ok(Self::Cluster(cluster)),
            (None, None, Some(true)) => Ok(Self::All),
            (None, None, Some(false)) => Err("`all` must be `true` when given".to_owned()),
            _ => Err("give exactly one of `subject`, `cluster` or `all`".to_owned()),
        }
    }
}

impl From<RevocationScope> for ScopeFields {
    fn from(scope: RevocationScope) -> Self {
        let mut fields = Self {
            subject: None,
            cluster: None,
            all: None,
        };
        match scope {
            RevocationScope::Subject { issuer, sub } => {
                fields.subject = Some(SubjectFields { issuer, sub });
            }
            RevocationScope::Cluster(cluster) => fields.cluster = Some(cluster),
            RevocationScope::All => fields.all = Some(true),
        }
        fields
    }
}

impl std::fmt::Display for RevocationScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Subject { issuer, sub } => write!(f, "subject `{sub}` of issuer `{issuer}`"),
            Self::Cluster(cluster) => write!(f, "cluster `{cluster}`"),
            Self::All => f.write_str("every request"),
        }
    }
}

/// The details of an audit event; the variant is the event's kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Details {
    /// An access request was received and stored.
    RequestReceived {
        /// Target cluster.
        cluster: String,
        /// Namespaces asked for.
        namespaces: Vec<String>,
        /// What was asked for in them.
        access: Access,
        /// Cluster-scoped rules asked for.
        cluster_rules: Vec<Rule>,
        /// Duration asked for, in seconds.
        duration_seconds: u64,
        /// The requester's reason.
        reason: String,
        /// The requester's context.
        context: BTreeMap<String, String>,
        /// Who asked, with the groups and claims the policies saw (so `wicket policy replay`
        /// can decide the request again). Absent in events written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<Identity>,
        /// The time the policies saw as "now". Absent in events written before it was
        /// recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_at: Option<Timestamp>,
    },
    /// Tokens did not verify; no policy ran.
    AuthenticationFailed(AuthenticationFailures),
    /// The policy chain decided.
    Verdict {
        /// The combined decision.
        decision: Verdict,
        /// Each module's answer, digest and duration.
        modules: Vec<ModuleVerdict>,
    },
    /// The request moved from one state to another.
    StateChanged {
        /// The state before.
        from: String,
        /// The state after.
        to: String,
        /// Why, e.g. the cause of a failure.
        note: Option<String>,
    },
    /// A Kubernetes object was created for the request.
    ObjectCreated {
        /// The object.
        object: ObjectRef,
    },
    /// A Kubernetes object of the request was deleted.
    ObjectDeleted {
        /// The object.
        object: ObjectRef,
    },
    /// A kubeconfig was handed to the requester (its content is never logged).
    KubeconfigIssued {
        /// When the credentials in it stop working.
        expires_at: Timestamp,
    },
    /// A reload swapped in new policy chains.
    PoliciesReloaded {
        /// What asked for the reload (`api`, `sighup`, `watch`, `promote`, `restore`, or
        /// `replica`: another replica published a reload generation).
        trigger: String,
        /// The generation now serving.
        generation: u64,
        /// The chains that changed, with their modules' digests.
        changed: Vec<ChangedChain>,
    },
    /// A reload refused a module, chain or configuration; the previous version serves on.
    PolicyRejected {
        /// What asked for the reload.
        trigger: String,
        /// The cluster whose chain kept its previous version; `None` for the whole reload.
        cluster: Option<String>,
        /// The chain entry at fault.
        entry: Option<String>,
        /// The file at fault.
        file: Option<String>,
        /// The sha256 of the module at fault, when it could be read.
        digest: Option<String>,
        /// Why.
        reason: String,
    },
    /// A candidate module decided a live request otherwise than the active one (shadow
    /// evaluation; the active verdict counted).
    ShadowDifference {
        /// The cluster.
        cluster: String,
        /// What the active module said.
        active: Box<ModuleVerdict>,
        /// What the candidate said.
        candidate: Box<ModuleVerdict>,
    },
    /// A candidate module was made active.
    PolicyPromoted {
        /// The cluster.
        cluster: String,
        /// The chain entry.
        entry: String,
        /// The candidate module file now active.
        candidate: String,
    },
    /// An admin used the kill switch; each request it ended has its own `state_changed`
    /// event by the same actor.
    KillSwitch {
        /// Which requests it was to end.
        scope: RevocationScope,
        /// Grants ended and pending requests withdrawn.
        revoked: u64,
        /// Requests in scope another task had ended first.
        ended: u64,
        /// Grants whose teardown failed: still active, with their expiry timer.
        failed: u64,
        /// Requests in scope still being decided or provisioned, left as they were.
        in_flight: u64,
    },
}

impl Details {
    /// The event's kind, as stored in the `kind` column and the hashed event.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RequestReceived { .. } => "request_received",
            Self::AuthenticationFailed { .. } => "authentication_failed",
            Self::Verdict { .. } => "verdict",
            Self::StateChanged { .. } => "state_changed",
            Self::ObjectCreated { .. } => "object_created",
            Self::ObjectDeleted { .. } => "object_deleted",
            Self::KubeconfigIssued { .. } => "kubeconfig_issued",
            Self::PoliciesReloaded { .. } => "policies_reloaded",
            Self::PolicyRejected { .. } => "policy_rejected",
            Self::ShadowDifference { .. } => "shadow_difference",
            Self::PolicyPromoted { .. } => "policy_promoted",
            Self::KillSwitch { .. } => "kill_switch",
        }
    }
}

/// What an `authentication_failed` event says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum AuthenticationFailures {
    /// The failures of one source in one window (a minute): written once, when the window
    /// closes.
    Counted {
        /// The source address (an IPv6 /64 as `2001:db8:1:2::/64`), `unknown` for calls
        /// without a peer address, `*` for sources beyond `limits.tracked_sources`.
        source: String,
        /// How many calls failed.
        count: u64,
        /// How many failed with each code (`expired`, `bad_signature`, ...).
        codes: BTreeMap<String, u64>,
        /// When the first failure of the window came.
        first: Timestamp,
        /// When the last one came.
        last: Timestamp,
    },
    /// One failure, as events were written before failures were counted (kept so that older
    /// logs still read and verify).
    Single {
        /// The failure's code.
        code: String,
        /// The client-safe message.
        message: String,
    },
}

/// One stored audit event, as read back and exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// When it was appended (millisecond precision).
    pub time: Timestamp,
    /// The kind (the `kind` of `details`).
    pub kind: String,
    /// The request it concerns, if any.
    pub request_id: Option<String>,
    /// Who caused it.
    pub actor: serde_json::Value,
    /// What happened, redacted, as hashed.
    pub details: serde_json::Value,
    /// The hash of the previous event (64 zeros for the first).
    pub prev_hash: String,
    /// sha256 over `prev_hash` and the canonical JSON of this event.
    pub hash: String,
}
