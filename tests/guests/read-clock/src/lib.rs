//! Denies with what it reads from the clock and the random generator: a policy must see
//! neither the real time nor real entropy, so two runs give the same reason.
#[path = "../../common.rs"]
mod common;
use common::*;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{SystemTime, UNIX_EPOCH};

struct Clock;

impl Guest for Clock {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, _request: AccessRequest) -> Decision {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(u64::MAX);
        // The standard library seeds every `RandomState` from the random generator.
        let hash = RandomState::new().hash_one("wicket");
        Decision::Deny(format!("wall clock {wall} s, hash {hash:016x}"))
    }
}

export!(Clock);
