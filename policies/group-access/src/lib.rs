//! `group-access`: members of groups get the clusters, namespaces, roles or rules and the
//! maximum TTL their settings allow; anything else is denied with what was not covered.
//!
//! The rule itself is the pure function [`decide`], callable natively (benchmarks compare it
//! with the same rule written in other policy languages). See `README.md` for the settings.
#![no_std]

extern crate alloc;

mod decide;
mod settings;

pub use decide::decide;
pub use settings::{DEFAULT_MAX_TTL, Entry, Members, Settings};
use wicket_sdk::{AccessRequest, Decision, Identity, Policy};

/// The `group-access` policy.
pub struct GroupAccess;

impl Policy for GroupAccess {
    type Settings = Settings;

    fn validate(settings: &Settings) -> Result<(), alloc::string::String> {
        settings.validate()
    }

    fn evaluate(settings: &Settings, identity: &Identity, request: &AccessRequest) -> Decision {
        decide(settings, identity, request)
    }
}

wicket_sdk::export_policy!(GroupAccess);
