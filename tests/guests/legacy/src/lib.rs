//! A module built against `wicket:policy@0.1.0` (world `relay-policy`), which the host keeps
//! loading beside 0.2.0 modules: allows what is asked, or (settings `"deny"`,
//! `"needs_approval"`) denies or asks a lead; per call it denies deletes.
wit_bindgen::generate!({
    world: "relay-policy",
    path: "../../../wit/0.1.0",
});

use exports::wicket::policy::evaluator::Guest as Evaluator;
use exports::wicket::policy::relay::Guest as Relay;
use wicket::policy::types::{
    AccessRequest, ApiCall, Approval, CallDecision, Decision, Grant, Identity, NamespaceGrant,
};

struct Legacy;

impl Evaluator for Legacy {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(settings: String, requester: Identity, request: AccessRequest) -> Decision {
        let grant = Grant {
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
        };
        match settings.trim().trim_matches('"') {
            "deny" => Decision::Deny(format!(
                "the 0.1.0 guest refuses {} (asked at {})",
                requester.subject, request.requested_at.seconds
            )),
            "needs_approval" => Decision::NeedsApproval(Approval {
                groups: vec!["leads".into()],
                subjects: vec![],
                count: 1,
                reason: "the 0.1.0 guest wants a lead to agree".into(),
                grant,
            }),
            _ => Decision::Allow(grant),
        }
    }
}

impl Relay for Legacy {
    fn authorize_call(
        _settings: String,
        _requester: Identity,
        _request: AccessRequest,
        call: ApiCall,
    ) -> CallDecision {
        if call.verb == "delete" {
            CallDecision::Deny("the 0.1.0 guest relays no deletes".to_owned())
        } else {
            CallDecision::Allow
        }
    }
}

export!(Legacy);
