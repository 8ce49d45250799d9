//! Rejects every settings value with its own message.
#[path = "../../common.rs"]
mod common;
use common::*;

struct Picky;

impl Guest for Picky {
    fn validate_settings(settings: String) -> Result<(), String> {
        Err(format!("`max_ttl` must be a positive number of seconds (settings: {settings})"))
    }

    fn evaluate(_settings: String, _requester: Identity, _request: AccessRequest) -> Decision {
        Decision::Deny("settings were never accepted".into())
    }
}

export!(Picky);
