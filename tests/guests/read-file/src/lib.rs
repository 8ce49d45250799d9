//! Allows if it can read any file or list any directory: it must not be able to.
#[path = "../../common.rs"]
mod common;
use common::*;

struct Snoop;

impl Guest for Snoop {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, request: AccessRequest) -> Decision {
        let attempts = [
            std::fs::read_to_string("/etc/passwd").map(|_| ()),
            std::fs::read_dir("/").map(|_| ()),
            std::fs::read_dir(".").map(|_| ()),
        ];
        let errors: Vec<String> = attempts.iter().filter_map(|a| a.as_ref().err().map(ToString::to_string)).collect();
        if errors.len() < attempts.len() {
            return Decision::Allow(asked_for(&request));
        }
        Decision::Deny(format!("no file access: {}", errors.join("; ")))
    }
}

export!(Snoop);
