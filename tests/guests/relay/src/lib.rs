//! A module of world `relay-policy`: denies requests with a reason of its own and answers the
//! per-call check (denies deletes), so the host must recognise the richer world.
wit_bindgen::generate!({
    world: "relay-policy",
    path: "../../../wit/0.1.0",
});

use exports::wicket::policy::evaluator::Guest as Evaluator;
use exports::wicket::policy::relay::Guest as Relay;
use wicket::policy::types::{AccessRequest, ApiCall, CallDecision, Decision, Identity};

struct RelayGuest;

impl Evaluator for RelayGuest {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, request: AccessRequest) -> Decision {
        Decision::Deny(format!(
            "relay guest: {} is decided call by call",
            request.cluster
        ))
    }
}

impl Relay for RelayGuest {
    fn authorize_call(
        _settings: String,
        _requester: Identity,
        _request: AccessRequest,
        call: ApiCall,
    ) -> CallDecision {
        if call.verb == "delete" {
            CallDecision::Deny("deletes are not relayed".to_owned())
        } else {
            CallDecision::Allow
        }
    }
}

export!(RelayGuest);
