//! The trait a policy implements.

use alloc::format;
use alloc::string::String;

use serde_alloc::de::DeserializeOwned;

use crate::{AccessRequest, Decision, Identity};

/// An access policy: typed settings, their validation, and the decision.
///
/// The host passes the module's settings as JSON text; the SDK parses them into
/// [`Policy::Settings`] with serde and checks them with [`Policy::validate`] when the module
/// is loaded (an error rejects the module), and again before a decision whose settings text is
/// not the one it last accepted (an error is a deny: a policy fails closed). The host starts
/// decisions from a snapshot taken after the module accepted its settings, so what
/// deserializing builds (a compiled pattern, a lookup table) is built once per chain entry.
///
/// ```
/// use wicket_sdk::serde::Deserialize;
/// use wicket_sdk::{AccessRequest, Decision, Grant, Identity, Policy};
///
/// /// Allows members of one group, for at most `max_ttl_seconds`.
/// pub struct OneGroup;
///
/// #[derive(Deserialize)]
/// #[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
/// pub struct Settings {
///     group: String,
///     #[serde(default = "default_max_ttl")]
///     max_ttl_seconds: u64,
/// }
///
/// fn default_max_ttl() -> u64 {
///     3600
/// }
///
/// impl Policy for OneGroup {
///     type Settings = Settings;
///
///     fn validate(settings: &Settings) -> Result<(), String> {
///         if settings.max_ttl_seconds == 0 {
///             return Err("`max_ttl_seconds` must be more than zero".into());
///         }
///         Ok(())
///     }
///
///     fn evaluate(settings: &Settings, identity: &Identity, request: &AccessRequest) -> Decision {
///         if !identity.in_group(&settings.group) {
///             return Decision::deny(format!("only members of `{}` may ask", settings.group));
///         }
///         Decision::allow(Grant::from_request(request).cap_ttl(settings.max_ttl_seconds))
///     }
/// }
///
/// wicket_sdk::export_policy!(OneGroup);
/// # fn main() {
/// # use wicket_sdk::{testing, Access};
/// # let request = AccessRequest::new("prod", Access::role("view"), 7200).with_namespace("web");
/// # let decision = testing::evaluate::<OneGroup>(r#"{"group": "corp:sre"}"#, &Identity::new("a", "i").with_group("corp:sre"), &request);
/// # assert!(matches!(decision, Decision::Allow { ref grant } if grant.ttl_seconds == 3600));
/// # }
/// ```
pub trait Policy {
    /// The settings, parsed from the module's JSON settings.
    type Settings: DeserializeOwned;

    /// Checks parsed settings beyond what their type says; the error is the whole message the
    /// host shows. The default accepts every settings value that parses.
    fn validate(settings: &Self::Settings) -> Result<(), String> {
        let _ = settings;
        Ok(())
    }

    /// Decides one access request. Must not panic: a panic traps, which the host turns into a
    /// deny with a diagnostic, never into an allow.
    fn evaluate(
        settings: &Self::Settings,
        identity: &Identity,
        request: &AccessRequest,
    ) -> Decision;
}

/// Parses and validates settings JSON the way the host's `validate-settings` call does.
pub(crate) fn settings<P: Policy>(json: &str) -> Result<P::Settings, String> {
    let settings: P::Settings =
        serde_json_alloc::from_str(json).map_err(|e| format!("invalid settings: {e}"))?;
    P::validate(&settings).map_err(|e| format!("invalid settings: {e}"))?;
    Ok(settings)
}
