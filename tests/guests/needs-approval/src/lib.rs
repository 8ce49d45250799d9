//! Asks for approval of what was asked (one of the two versions the reload tests swap
//! between; nothing is provisioned until someone approves).
#[path = "../../common.rs"]
mod common;
use common::*;

struct NeedsApproval;

impl Guest for NeedsApproval {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, request: AccessRequest) -> Decision {
        Decision::NeedsApproval(wicket::policy::types::Approval {
            groups: vec!["leads".into()],
            subjects: vec![],
            count: 1,
            reason: "the needs-approval guest wants a lead to agree".into(),
            grant: asked_for(&request),
        })
    }
}

export!(NeedsApproval);
