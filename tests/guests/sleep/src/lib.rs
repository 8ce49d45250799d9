//! Sleeps 5 s while deciding (and while validating its settings when they contain
//! `validate`), then allows: a sleep is a host call the epoch deadline cannot interrupt, so
//! the host must end it at the deadline itself and deny. A request whose reason contains
//! `quick` is allowed at once (the fast requests beside the slow ones).
#[path = "../../common.rs"]
mod common;
use common::*;

use std::time::Duration;

const NAP: Duration = Duration::from_secs(5);

struct Sleep;

impl Guest for Sleep {
    fn validate_settings(settings: String) -> Result<(), String> {
        if settings.contains("validate") {
            std::thread::sleep(NAP);
        }
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, request: AccessRequest) -> Decision {
        if !request.reason.contains("quick") {
            std::thread::sleep(NAP);
        }
        Decision::Allow(asked_for(&request))
    }
}

export!(Sleep);
