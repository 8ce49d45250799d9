//! `require-ticket`: requests for the listed clusters and namespaces must cite a ticket (in the
//! reason or the `ticket` context value) matching a pattern; otherwise they need approval by
//! a named group. Requests out of scope are allowed as requested. See `README.md`.
#![no_std]

extern crate alloc;

mod decide;
mod settings;

pub use decide::decide;
pub use settings::{Settings, TicketPattern};
use wicket_sdk::{AccessRequest, Decision, Identity, Policy};

/// The `require-ticket` policy.
pub struct RequireTicket;

impl Policy for RequireTicket {
    type Settings = Settings;

    fn validate(settings: &Settings) -> Result<(), alloc::string::String> {
        settings.validate()
    }

    fn evaluate(settings: &Settings, _identity: &Identity, request: &AccessRequest) -> Decision {
        decide(settings, request)
    }
}

wicket_sdk::export_policy!(RequireTicket);
