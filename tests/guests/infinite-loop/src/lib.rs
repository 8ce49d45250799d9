//! Never returns.
#[path = "../../common.rs"]
mod common;
use common::*;

struct Spin;

impl Guest for Spin {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    #[allow(clippy::empty_loop)]
    fn evaluate(_settings: String, _requester: Identity, _request: AccessRequest) -> Decision {
        loop {}
    }
}

export!(Spin);
