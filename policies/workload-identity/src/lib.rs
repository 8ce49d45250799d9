//! `workload-identity`: non-human requesters (CI jobs, services), recognised by their token's
//! issuer and exact claim values, get only a narrow, short grant; a workload that matches no
//! configured entry is denied; people are not its concern (it abstains, so it chains with
//! `group-access`), or are allowed as requested or denied. See `README.md` for the settings.
#![no_std]

extern crate alloc;

mod decide;
mod settings;

pub use decide::decide;
pub use settings::{DEFAULT_MAX_TTL, Humans, Settings, Token, Workload};
use wicket_sdk::{AccessRequest, Decision, Identity, Policy};

/// The `workload-identity` policy.
pub struct WorkloadIdentity;

impl Policy for WorkloadIdentity {
    type Settings = Settings;

    fn validate(settings: &Settings) -> Result<(), alloc::string::String> {
        settings.validate()
    }

    fn evaluate(settings: &Settings, identity: &Identity, request: &AccessRequest) -> Decision {
        decide(settings, identity, request)
    }
}

wicket_sdk::export_policy!(WorkloadIdentity);
