//! A module of world `relay-policy` (0.2.0): denies requests with a reason of its own and
//! answers the per-call check, so the host must recognise the richer world and call it. Per
//! call it denies deletes, and writes from the time its settings name
//! (`{"read_only_from": <unix seconds>}`, read against `api-call.at`). Settings `"loop"`,
//! `"panic"` and `"huge_reason"` make the call misbehave instead.
wit_bindgen::generate!({
    world: "relay-policy",
    path: "../../../wit",
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
        settings: String,
        requester: Identity,
        _request: AccessRequest,
        call: ApiCall,
    ) -> CallDecision {
        match settings.trim().trim_matches('"') {
            "loop" => loop {
                std::hint::black_box(&call);
            },
            "panic" => panic!("the relay guest panics"),
            "huge_reason" => return CallDecision::Deny("x".repeat(1 << 20)),
            _ => {}
        }
        let read_only_from = settings
            .split_once("\"read_only_from\":")
            .and_then(|(_, rest)| {
                let digits: String = rest
                    .trim_start()
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse::<i64>().ok()
            });
        let reads = ["get", "list", "watch"].contains(&call.verb.as_str());
        if call.verb == "delete" {
            CallDecision::Deny("deletes are not relayed".to_owned())
        } else if !reads && read_only_from.is_some_and(|from| call.at.seconds >= from) {
            CallDecision::Deny(format!(
                "{} may only read from {}",
                requester.subject, call.at.seconds
            ))
        } else {
            CallDecision::Allow
        }
    }
}

export!(RelayGuest);
