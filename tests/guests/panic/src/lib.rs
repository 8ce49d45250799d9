//! Panics (after printing to stdout, to show output is captured).
#[path = "../../common.rs"]
mod common;
use common::*;

struct Panics;

impl Guest for Panics {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, requester: Identity, _request: AccessRequest) -> Decision {
        println!("deciding for {}", requester.subject);
        panic!("guest panicked on purpose");
    }
}

export!(Panics);
