//! The trait a relay policy implements: it also decides every API call made with an issued
//! credential.

use crate::{AccessRequest, ApiCall, CallDecision, Identity, Policy};

/// A policy that, in relay mode, also decides each API call a requester makes under a grant
/// (the `relay-policy` world; export it with [`crate::export_relay_policy!`]).
///
/// The host calls [`RelayPolicy::authorize_call`] only for calls that lie within the grant, and
/// may reuse a decision for the same inputs until the policies are reloaded: decide from the
/// inputs alone, with [`ApiCall::at`] as "now".
///
/// ```
/// use wicket_sdk::{AccessRequest, ApiCall, CallDecision, Decision, Identity, Policy, RelayPolicy};
///
/// /// Allows what is asked; in relay mode, only reads outside 08:00–18:00 UTC.
/// pub struct ReadOnlyAtNight;
///
/// impl Policy for ReadOnlyAtNight {
///     type Settings = wicket_sdk::serde_json::Value;
///
///     fn evaluate(_: &Self::Settings, _: &Identity, request: &AccessRequest) -> Decision {
///         Decision::allow_as_requested(request)
///     }
/// }
///
/// impl RelayPolicy for ReadOnlyAtNight {
///     fn authorize_call(_: &Self::Settings, _: &Identity, _: &AccessRequest, call: &ApiCall) -> CallDecision {
///         let hour = call.at.as_second().rem_euclid(86_400) / 3600;
///         if call.is_read_only() || (8..18).contains(&hour) {
///             CallDecision::Allow
///         } else {
///             CallDecision::deny("read-only outside 08:00-18:00 UTC")
///         }
///     }
/// }
///
/// wicket_sdk::export_relay_policy!(ReadOnlyAtNight);
/// # fn main() {
/// # use wicket_sdk::{testing::{self, timestamp}, Access};
/// # let request = AccessRequest::new("prod", Access::role("edit"), 600).with_namespace("web");
/// # let call = ApiCall::new("delete", "", "pods").in_namespace("web").at(timestamp("2026-11-23T22:00:00Z"));
/// # let who = Identity::new("alice", "https://idp");
/// # assert!(matches!(testing::authorize_call::<ReadOnlyAtNight>("{}", &who, &request, &call), CallDecision::Deny { .. }));
/// # }
/// ```
pub trait RelayPolicy: Policy {
    /// Decides one call `identity` makes under the access granted for `request`. Must not
    /// panic: a panic traps, which the host turns into a refusal.
    fn authorize_call(
        settings: &Self::Settings,
        identity: &Identity,
        request: &AccessRequest,
        call: &ApiCall,
    ) -> CallDecision;
}
