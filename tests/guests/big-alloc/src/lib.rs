//! Allocates and touches 1 GiB.
#[path = "../../common.rs"]
mod common;
use common::*;

struct Hog;

impl Guest for Hog {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, request: AccessRequest) -> Decision {
        let block = std::hint::black_box(vec![1u8; 1 << 30]);
        let mut grant = asked_for(&request);
        grant.ttl_seconds = u64::from(block[block.len() - 1]);
        Decision::Allow(grant)
    }
}

export!(Hog);
