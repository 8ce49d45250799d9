//! A module of world `relay-policy`: decides requests like `allow` and also answers the
//! per-call check (denies deletes), so the host must recognise the richer world.
wit_bindgen::generate!({
    world: "relay-policy",
    path: "../../../wit",
});

use exports::wicket::policy::evaluator::Guest as Evaluator;
use exports::wicket::policy::relay::Guest as Relay;
use wicket::policy::types::{
    AccessRequest, ApiCall, CallDecision, Decision, Grant, Identity, NamespaceGrant,
};

struct RelayGuest;

impl Evaluator for RelayGuest {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(_settings: String, _requester: Identity, request: AccessRequest) -> Decision {
        Decision::Allow(Grant {
            namespaces: request
                .namespaces
                .iter()
                .map(|ns| NamespaceGrant {
                    namespace: ns.clone(),
                    access: request.access.clone(),
                })
                .collect(),
            cluster_rules: request.cluster_rules.clone(),
            ttl_seconds: request.duration_seconds,
        })
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
