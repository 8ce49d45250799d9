//! Who asks: a person or a workload, as proven by a verified token.

use alloc::string::String;
use alloc::vec::Vec;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who asks: a person or a workload (CI job, service), as proven by a verified JWT.
///
/// Groups are qualified by the issuer's alias in Wicket's configuration: `corp:sre` is group
/// `sre` of the issuer configured with `alias = "corp"`, never a group of that name in another
/// issuer's tokens. Settings name groups the same way.
///
/// In JSON (request and cases files) claims are an object of JSON values:
/// `{"subject": "alice", "issuer": "https://idp", "groups": ["idp:sre"], "claims": {"email": "a@x"}}`.
///
/// ```
/// use wicket_contract::Identity;
///
/// let ci = Identity::new("repo:octo/app:ref:refs/heads/main", "https://token.actions.example")
///     .with_group("ci:deployers")
///     .with_claim("repository", "octo/app")
///     .with_claim("run_attempt", 2);
/// assert!(ci.in_group("ci:deployers"));
/// assert!(!ci.in_group("deployers")); // always qualified
/// assert_eq!(ci.claim::<String>("repository").as_deref(), Some("octo/app"));
/// assert_eq!(ci.claim::<u32>("run_attempt"), Some(2));
/// assert_eq!(ci.claim::<u32>("repository"), None); // not a number
/// assert_eq!(ci.claim::<String>("email"), None); // absent
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Identity {
    /// The `sub` claim.
    pub subject: String,
    /// The `iss` claim: which trusted issuer vouched for the requester.
    pub issuer: String,
    /// Group memberships, each `<issuer alias>:<group>`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Every other claim of the token (not `sub`, `iss` and the groups claim), by name.
    #[serde(default)]
    pub claims: Map<String, Value>,
}

impl Identity {
    /// An identity with no groups and no other claims.
    pub fn new(subject: impl Into<String>, issuer: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            issuer: issuer.into(),
            ..Self::default()
        }
    }

    /// The same identity, also member of `group`.
    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }

    /// The same identity with claim `name` set to `value`.
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Whether the requester is a member of `group`, written `<issuer alias>:<group>`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Claim `name` read as a `T`; `None` when the token has no such claim or it is not a `T`.
    pub fn claim<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        T::deserialize(self.claims.get(name)?).ok()
    }
}
