//! The settings of `workload-identity`.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wicket_sdk::serde::Deserialize;
use wicket_sdk::serde_json::Value;
use wicket_sdk::{Duration, Identity, Scoped};

/// The known workloads and what they may have.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Settings {
    /// Issuers whose tokens are workloads, besides the issuers named in `workloads`.
    #[serde(default)]
    pub workload_issuers: Vec<String>,
    /// What happens to people (tokens of any other issuer); default `allow`.
    #[serde(default)]
    pub humans: Humans,
    /// The workloads.
    #[serde(default)]
    pub workloads: Vec<Workload>,
}

/// What happens to a requester whose issuer is not a workload issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(crate = "wicket_sdk::serde", rename_all = "snake_case")]
pub enum Humans {
    /// Not this policy's concern: it abstains and the rest of the chain decides (a chain in
    /// which every module abstains denies).
    #[default]
    Abstain,
    /// Allowed as requested: another policy of the chain narrows or denies (before `abstain`
    /// existed, the way to let people through).
    Allow,
    /// Denied: only workloads may use this cluster.
    Deny,
}

/// One workload: who it is (read into [`Token`]) and the most it may have: the SDK's scope block
/// (`clusters`, `namespaces`, `roles`, `rules`, `cluster_rules`, `max_ttl`; see
/// [`wicket_sdk::Scope`]).
pub type Workload = Scoped<Token>;

/// The token of a workload.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Token {
    /// A name for reasons and logs, e.g. `payments-deploy`.
    pub name: String,
    /// The token issuer, exactly.
    pub issuer: String,
    /// The token subject, exactly; any subject when absent.
    #[serde(default)]
    pub subject: Option<String>,
    /// Claims the token must carry with exactly these JSON values.
    #[serde(default)]
    pub claims: BTreeMap<String, Value>,
}

/// The longest access a workload gets when it gives no `max_ttl`: 15 minutes.
pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(900);

impl Settings {
    /// Checks what reading the settings does not (the scope block checks itself): non-empty
    /// issuers, named, uniquely named workloads, each pinned by subject or claims.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(at) = self.workload_issuers.iter().position(String::is_empty) {
            return Err(format!("workload_issuers[{at}]: an issuer is empty"));
        }
        for (index, workload) in self.workloads.iter().enumerate() {
            let token = &workload.who;
            token
                .validate()
                .map_err(|e| format!("workloads[{index}] (`{}`): {e}", token.name))?;
            if self.workloads[..index]
                .iter()
                .any(|other| other.who.name == token.name)
            {
                return Err(format!(
                    "workloads[{index}].name: the name `{}` is used twice",
                    token.name
                ));
            }
        }
        Ok(())
    }

    /// Whether `identity` is a workload: its issuer is a workload issuer.
    pub fn is_workload(&self, identity: &Identity) -> bool {
        self.workload_issuers.contains(&identity.issuer)
            || self
                .workloads
                .iter()
                .any(|w| w.who.issuer == identity.issuer)
    }
}

impl Token {
    fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("`name` is empty".into());
        }
        if self.issuer.is_empty() {
            return Err("`issuer` is empty".into());
        }
        if self.subject.is_none() && self.claims.is_empty() {
            return Err(
                "neither `subject` nor `claims` is given, so every token of the issuer would match"
                    .into(),
            );
        }
        Ok(())
    }

    /// Whether `identity` is this workload: same issuer, same subject if one is given, and
    /// every configured claim present with exactly the configured value.
    pub fn matches(&self, identity: &Identity) -> bool {
        identity.issuer == self.issuer
            && self.subject.as_ref().is_none_or(|s| *s == identity.subject)
            && self
                .claims
                .iter()
                .all(|(name, value)| identity.claim::<Value>(name).as_ref() == Some(value))
    }
}

/// The longest access `workload` gets, in seconds.
pub(crate) fn max_ttl_seconds(workload: &Workload) -> u64 {
    workload.scope.max_ttl_or(DEFAULT_MAX_TTL).as_secs()
}
