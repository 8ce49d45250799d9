//! Recurses without end.
#[path = "../../common.rs"]
mod common;
use common::*;

struct Deep;

fn depth(n: u64) -> u64 {
    if std::hint::black_box(n) == u64::MAX {
        return 0;
    }
    let below = depth(n + 1);
    std::hint::black_box(below) + 1
}

impl Guest for Deep {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, request: AccessRequest) -> Decision {
        let mut grant = asked_for(&request);
        grant.ttl_seconds = depth(0);
        Decision::Allow(grant)
    }
}

export!(Deep);
