//! `@NAME@`: members of the groups listed in the settings get what they ask for, for at most
//! `max_ttl_seconds`; anyone else is not its concern (it abstains, and the rest of the chain
//! decides).

use wicket_sdk::serde::Deserialize;
use wicket_sdk::{AccessRequest, Decision, Grant, Identity, Policy};

/// The policy.
pub struct @TYPE@;

/// The settings, from Wicket's configuration (a misspelt field is an error).
#[derive(Debug, Deserialize)]
#[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
pub struct Settings {
    /// Groups whose members may ask, as `<issuer alias>:<group>`.
    pub groups: Vec<String>,
    /// The longest grant, in seconds.
    pub max_ttl_seconds: u64,
}

impl Policy for @TYPE@ {
    type Settings = Settings;

    fn validate(settings: &Settings) -> Result<(), String> {
        if settings.groups.is_empty() {
            return Err("`groups` must not be empty".into());
        }
        if settings.max_ttl_seconds == 0 {
            return Err("`max_ttl_seconds` must be more than zero".into());
        }
        Ok(())
    }

    fn evaluate(settings: &Settings, requester: &Identity, request: &AccessRequest) -> Decision {
        if !settings.groups.iter().any(|group| requester.in_group(group)) {
            let groups: Vec<String> = settings.groups.iter().map(|g| format!("`{g}`")).collect();
            return Decision::abstain(format!("not a member of {}", groups.join(", ")));
        }
        Decision::allow(Grant::from_request(request).cap_ttl(settings.max_ttl_seconds))
    }
}

wicket_sdk::export_policy!(@TYPE@);
