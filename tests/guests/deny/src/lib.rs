//! Denies every request (one of the two versions the reload tests swap between).
#[path = "../../common.rs"]
mod common;
use common::*;

struct Deny;

impl Guest for Deny {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, requester: Identity, _request: AccessRequest) -> Decision {
        Decision::Deny(format!("the deny guest refuses {}", requester.subject))
    }
}

export!(Deny);
