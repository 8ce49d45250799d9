//! Test a policy natively, with plain `cargo test`: no wasm, no host.
//!
//! [`evaluate`] decides one request the way the host would (settings as JSON text, parsed and
//! validated, inputs passed through the WIT types and back), [`authorize_call`] one API call of
//! a [`RelayPolicy`]; [`run_cases`] (and [`run_relay_cases`]) runs a whole `cases.json` file with
//! the runner `wicket policy test` uses.
//!
//! ```
//! use wicket_sdk::testing::{self, timestamp};
//! use wicket_sdk::{Access, AccessRequest, Decision, Identity, Policy};
//!
//! /// Denies everything.
//! struct DenyAll;
//!
//! impl Policy for DenyAll {
//!     type Settings = wicket_sdk::serde_json::Value;
//!
//!     fn evaluate(_: &Self::Settings, _: &Identity, _: &AccessRequest) -> Decision {
//!         Decision::deny("never")
//!     }
//! }
//!
//! let request = AccessRequest::new("prod", Access::role("view"), 600)
//!     .with_namespace("web")
//!     .with_requested_at(timestamp("2026-11-23T10:00:00Z"));
//! let decision = testing::evaluate::<DenyAll>("{}", &Identity::new("alice", "https://idp"), &request);
//! assert_eq!(decision, Decision::deny("never"));
//! ```

mod cases;

use std::string::String;

use jiff_alloc::Timestamp;

pub use cases::{
    CaseFailure, run_cases, run_cases_report, run_relay_cases, run_relay_cases_report,
};

use crate::bindings::types as wit;
use crate::export::{authorize_export, evaluate_export, validate_export};
use crate::settings_cache::SettingsCache;
use crate::{AccessRequest, ApiCall, CallDecision, Decision, Identity, Policy, RelayPolicy};

/// Decides `request` from `identity` with policy `P` configured by `settings_json`, exactly as
/// the component would: the settings are parsed and validated (a failure is a deny with the
/// message) and the identity, request and decision pass through their WIT forms.
pub fn evaluate<P: Policy>(
    settings_json: &str,
    identity: &Identity,
    request: &AccessRequest,
) -> Decision {
    let decision = evaluate_export::<P>(
        &SettingsCache::new(),
        String::from(settings_json),
        wit::Identity::from(identity.clone()),
        wit::AccessRequest::from(request.clone()),
    );
    Decision::from(decision)
}

/// Decides `call`, made by `identity` under the grant of `request`, with relay policy `P`
/// configured by `settings_json`, exactly as the component's `authorize-call` would (see
/// [`evaluate`]).
pub fn authorize_call<P: RelayPolicy>(
    settings_json: &str,
    identity: &Identity,
    request: &AccessRequest,
    call: &ApiCall,
) -> CallDecision {
    let decision = authorize_export::<P>(
        &SettingsCache::new(),
        String::from(settings_json),
        wit::Identity::from(identity.clone()),
        wit::AccessRequest::from(request.clone()),
        wit::ApiCall::from(call.clone()),
    );
    CallDecision::from(decision)
}

/// Validates `settings_json` for policy `P` as the host does when it loads the module.
///
/// ```
/// use wicket_sdk::{testing, AccessRequest, Decision, Identity, Policy};
///
/// struct Strict;
///
/// impl Policy for Strict {
///     type Settings = u64;
///
///     fn validate(settings: &u64) -> Result<(), String> {
///         if *settings == 0 { Err("zero is not allowed".into()) } else { Ok(()) }
///     }
///
///     fn evaluate(_: &u64, _: &Identity, request: &AccessRequest) -> Decision {
///         Decision::allow_as_requested(request)
///     }
/// }
///
/// assert!(testing::validate::<Strict>("3").is_ok());
/// assert_eq!(testing::validate::<Strict>("0").unwrap_err(), "invalid settings: zero is not allowed");
/// assert!(testing::validate::<Strict>("\"x\"").unwrap_err().starts_with("invalid settings: invalid type"));
/// ```
pub fn validate<P: Policy>(settings_json: &str) -> Result<(), String> {
    validate_export::<P>(&SettingsCache::new(), String::from(settings_json))
}

/// The time `rfc3339` (with a UTC offset, e.g. `2026-11-23T10:00:00+01:00`).
///
/// # Panics
/// When `rfc3339` is not such a time: this is for tests.
pub fn timestamp(rfc3339: &str) -> Timestamp {
    rfc3339
        .parse()
        .unwrap_or_else(|e| panic!("`{rfc3339}` is not an RFC 3339 time: {e}"))
}
