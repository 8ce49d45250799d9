//! `change-window`: access is allowed inside weekly change windows, never during a freeze,
//! and outside the windows either denied or allowed briefly; other clusters are not its
//! concern (it abstains). The request's `evaluated_at` is "now" (the sandbox has no clock). See
//! `README.md` for the settings.
#![no_std]

extern crate alloc;

mod decide;
mod settings;
mod time;

pub use decide::decide;
pub use settings::{Freeze, Outside, Settings, Window};
pub use time::{ClockTime, Day, Instant, UtcOffset};
use wicket_sdk::{AccessRequest, Decision, Identity, Policy};

/// The `change-window` policy.
pub struct ChangeWindow;

impl Policy for ChangeWindow {
    type Settings = Settings;

    fn validate(settings: &Settings) -> Result<(), alloc::string::String> {
        settings.validate()
    }

    fn evaluate(settings: &Settings, _identity: &Identity, request: &AccessRequest) -> Decision {
        decide(settings, request)
    }
}

wicket_sdk::export_policy!(ChangeWindow);
