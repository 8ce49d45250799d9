//! Denies with what it reads from the clock and the random generator: a policy must see
//! neither the real time nor real entropy, so two runs give the same reason. It also reads the
//! clock while validating its settings: a call to an import there, which the host cannot
//! snapshot, so the module is never pre-initialised.
#[path = "../../common.rs"]
mod common;
use common::*;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{SystemTime, UNIX_EPOCH};

struct Clock;

impl Guest for Clock {
    fn validate_settings(_settings: String) -> Result<(), String> {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) if since.as_secs() == 0 => Ok(()),
            _ => Err("the clock must read the Unix epoch".into()),
        }
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
