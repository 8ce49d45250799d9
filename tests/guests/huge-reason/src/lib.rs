//! Denies with a 100 MB reason.
#[path = "../../common.rs"]
mod common;
use common::*;

struct Verbose;

impl Guest for Verbose {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, _request: AccessRequest) -> Decision {
        Decision::Deny("x".repeat(100_000_000))
    }
}

export!(Verbose);
