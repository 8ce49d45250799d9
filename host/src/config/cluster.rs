//! `[[clusters]]`: the Kubernetes clusters Wicket grants access to, each with its policy chain.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reqwest::Url;
use serde::Deserialize;

use crate::domain::{is_dns1123_label, is_dns1123_subdomain};
use crate::guard::{
    DEFAULT_JIT_NAMESPACE, DEFAULT_OWN_NAMESPACE, DEFAULT_PROTECTED, DEFAULT_ROLES, Guardrails,
    PodSecurity,
};
use crate::policy::{OnAllow, OnDeny};

/// The default memory limit of one policy instance, in MiB.
pub const DEFAULT_MEMORY_LIMIT_MIB: u32 = 64;
/// The default deadline of one policy decision, in milliseconds.
pub const DEFAULT_DEADLINE_MS: u64 = 100;

/// One target cluster.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawCluster")]
pub struct ClusterConfig {
    /// The name requests use (a DNS-1123 label).
    pub name: String,
    /// How Wicket itself reaches the cluster.
    pub connection: Connection,
    /// Where JIT ServiceAccounts are created (protected).
    pub namespace: String,
    /// Where Wicket's own ServiceAccount lives (protected).
    pub own_namespace: String,
    /// What is never granted on this cluster, whatever the policies say.
    pub guardrails: Guardrails,
    /// Start even when Wicket's own identity holds more than it needs (logged loudly).
    pub allow_excess_privileges: bool,
    /// The API server URL written into issued kubeconfigs.
    pub server: Url,
    /// The CA bundle written into issued kubeconfigs; `None` when the server's certificate
    /// is signed by a publicly trusted CA.
    pub ca_file: Option<PathBuf>,
    /// The policy chain, evaluated in order.
    pub policies: Vec<PolicyConfig>,
}

/// How Wicket reaches a cluster's API server with its own credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// A kubeconfig file, optionally with a context other than its current one.
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// The context to use; `None` for the file's current context.
        context: Option<String>,
    },
    /// The ServiceAccount Wicket runs as, when it runs inside the cluster.
    InCluster,
}

/// One module of a cluster's policy chain.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawPolicy")]
pub struct PolicyConfig {
    /// The name the module is known by in verdicts and logs.
    pub name: String,
    /// The WebAssembly component file.
    pub module: PathBuf,
    /// The module's settings, handed to it as JSON.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// Memory limit of one instance, in MiB.
    pub memory_limit_mib: u32,
    /// Deadline of one decision, in milliseconds.
    pub deadline_ms: u64,
    /// Whether the chain goes on after this module denies (default) or stops there.
    pub on_deny: OnDeny,
    /// Whether this module's allow ends the chain with that allow (`sufficient`, when no
    /// module before it denied or asked for approval) or the chain goes on (default).
    pub on_allow: OnAllow,
    /// A candidate module evaluated beside `module` on live requests (shadow evaluation):
    /// its verdict never counts, every difference is recorded.
    pub candidate: Option<PathBuf>,
    /// The candidate's settings; `None` gives it `settings`.
    pub candidate_settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// Whether decisions start from a snapshot taken after the module accepted its settings
    /// (default); `false` parses them in every decision's fresh instance.
    pub snapshot: bool,
}

fn default_namespace() -> String {
    DEFAULT_JIT_NAMESPACE.to_owned()
}

fn default_own_namespace() -> String {
    DEFAULT_OWN_NAMESPACE.to_owned()
}

fn default_roles() -> BTreeMap<String, String> {
    DEFAULT_ROLES
        .iter()
        .map(|(role, cluster_role)| ((*role).to_owned(), (*cluster_role).to_owned()))
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    #[serde(default)]
    in_cluster: bool,
    #[serde(default = "default_namespace")]
    namespace: String,
    #[serde(default = "default_own_namespace")]
    own_namespace: String,
    #[serde(default)]
    protected_namespaces: Vec<String>,
    #[serde(default = "default_roles")]
    roles: BTreeMap<String, String>,
    #[serde(default)]
    grant_secrets: bool,
    #[serde(default)]
    pod_security: PodSecurity,
    #[serde(default)]
    allow_excess_privileges: bool,
    server: String,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    policies: Vec<PolicyConfig>,
}

impl TryFrom<RawCluster> for ClusterConfig {
    type Error = String;

    fn try_from(raw: RawCluster) -> Result<Self, String> {
        let name = raw.name;
        if !is_dns1123_label(&name) {
            return Err(format!("cluster name `{name}` is not a DNS-1123 label"));
        }
        let connection = match (raw.kubeconfig, raw.in_cluster) {
            (Some(path), false) => Connection::Kubeconfig {
                path,
                context: raw.context,
            },
            (None, true) if raw.context.is_none() => Connection::InCluster,
            (None, true) => {
                return Err(format!(
                    "cluster `{name}`: `context` only applies with `kubeconfig`"
                ));
            }
            _ => {
                return Err(format!(
                    "cluster `{name}` needs exactly one of `kubeconfig` or `in_cluster = true`"
                ));
            }
        };
        for (key, namespace) in [
            ("namespace", &raw.namespace),
            ("own_namespace", &raw.own_namespace),
        ]
        .into_iter()
        .chain(
            raw.protected_namespaces
                .iter()
                .map(|ns| ("protected_namespaces", ns)),
        ) {
            if !is_dns1123_label(namespace) {
                return Err(format!(
                    "cluster `{name}`: `{key}` `{namespace}` is not a DNS-1123 label"
                ));
            }
        }
        if raw.namespace == raw.own_namespace {
            return Err(format!(
                "cluster `{name}`: `namespace` (JIT ServiceAccounts) and `own_namespace` \
                 (Wicket's ServiceAccount) must differ, or a grant's account could reach Wicket's"
            ));
        }
        for (role, cluster_role) in &raw.roles {
            if !is_dns1123_subdomain(role) || !is_dns1123_subdomain(cluster_role) {
                return Err(format!(
                    "cluster `{name}`: `roles` entry `{role}` = `{cluster_role}` is not a pair of \
                     ClusterRole names"
                ));
            }
        }
        // The defaults are always protected: listing more namespaces never unprotects them.
        let mut protected = raw.protected_namespaces;
        protected.extend(DEFAULT_PROTECTED.iter().map(|n| (*n).to_owned()));
        protected.extend([raw.namespace.clone(), raw.own_namespace.clone()]);
        let guardrails = Guardrails::new(protected, raw.roles, raw.grant_secrets)
            .with_pod_security(raw.pod_security);
        let server = Url::parse(&raw.server)
            .ok()
            .filter(|url| url.scheme() == "https" && url.host_str().is_some())
            .ok_or_else(|| {
                format!(
                    "cluster `{name}`: `server` `{}` must be an https URL",
                    raw.server
                )
            })?;
        if raw.policies.is_empty() {
            return Err(format!(
                "cluster `{name}` has no `[[clusters.policies]]`; every request would be denied"
            ));
        }
        for (index, policy) in raw.policies.iter().enumerate() {
            if raw.policies[..index].iter().any(|p| p.name == policy.name) {
                return Err(format!(
                    "cluster `{name}`: policy name `{}` is used twice",
                    policy.name
                ));
            }
        }
        Ok(Self {
            name,
            connection,
            namespace: raw.namespace,
            own_namespace: raw.own_namespace,
            guardrails,
            allow_excess_privileges: raw.allow_excess_privileges,
            server,
            ca_file: raw.ca_file,
            policies: raw.policies,
        })
    }
}

fn default_memory_limit_mib() -> u32 {
    DEFAULT_MEMORY_LIMIT_MIB
}

fn default_deadline_ms() -> u64 {
    DEFAULT_DEADLINE_MS
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    module: PathBuf,
    #[serde(default)]
    settings: serde_json::Map<String, serde_json::Value>,
    #[serde(default = "default_memory_limit_mib")]
    memory_limit_mib: u32,
    #[serde(default = "default_deadline_ms")]
    deadline_ms: u64,
    #[serde(default)]
    on_deny: OnDeny,
    #[serde(default)]
    on_allow: OnAllow,
    candidate: Option<PathBuf>,
    candidate_settings: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default = "default_snapshot")]
    snapshot: bool,
}

fn default_snapshot() -> bool {
    true
}

impl TryFrom<RawPolicy> for PolicyConfig {
    type Error = String;

    fn try_from(raw: RawPolicy) -> Result<Self, String> {
        let name = raw.name;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "policy name `{name}` must be letters, digits, `-`, `_` or `.`"
            ));
        }
        if raw.module.as_os_str().is_empty() {
            return Err(format!("policy `{name}`: `module` must not be empty"));
        }
        if !(1..=4096).contains(&raw.memory_limit_mib) {
            return Err(format!(
                "policy `{name}`: `memory_limit_mib` must be between 1 and 4096, not {}",
                raw.memory_limit_mib
            ));
        }
        if !(1..=60_000).contains(&raw.deadline_ms) {
            return Err(format!(
                "policy `{name}`: `deadline_ms` must be between 1 and 60000, not {}",
                raw.deadline_ms
            ));
        }
        if raw
            .candidate
            .as_ref()
            .is_some_and(|c| c.as_os_str().is_empty())
        {
            return Err(format!("policy `{name}`: `candidate` must not be empty"));
        }
        if raw.candidate_settings.is_some() && raw.candidate.is_none() {
            return Err(format!(
                "policy `{name}`: `candidate_settings` needs a `candidate` module"
            ));
        }
        Ok(Self {
            name,
            module: raw.module,
            settings: raw.settings,
            memory_limit_mib: raw.memory_limit_mib,
            deadline_ms: raw.deadline_ms,
            on_deny: raw.on_deny,
            on_allow: raw.on_allow,
            candidate: raw.candidate,
            candidate_settings: raw.candidate_settings,
            snapshot: raw.snapshot,
        })
    }
}
