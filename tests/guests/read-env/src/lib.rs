//! Allows if it sees any environment variable or argument: it must not.
#[path = "../../common.rs"]
mod common;
use common::*;

struct Env;

impl Guest for Env {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, request: AccessRequest) -> Decision {
        let vars = std::env::vars().count();
        let args = std::env::args().count();
        if vars > 0 || args > 0 || std::env::var("HOME").is_ok() {
            return Decision::Allow(asked_for(&request));
        }
        Decision::Deny(format!("no environment: {vars} variables, {args} arguments"))
    }
}

export!(Env);
