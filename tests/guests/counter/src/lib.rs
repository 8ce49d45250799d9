//! Counts its decisions in a global and denies with the count: a fresh instance per decision
//! means the count is always 1.
#[path = "../../common.rs"]
mod common;
use common::*;
use std::sync::atomic::{AtomicU64, Ordering};

static DECISIONS: AtomicU64 = AtomicU64::new(0);

struct Counter;

impl Guest for Counter {
    fn validate_settings(_settings: String) -> Result<(), String> {
        DECISIONS.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, _request: AccessRequest) -> Decision {
        let n = DECISIONS.fetch_add(1, Ordering::SeqCst) + 1;
        Decision::Deny(format!("decision number {n}"))
    }
}

export!(Counter);
