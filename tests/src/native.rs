//! The sample chain (`group-access` then `require-ticket`) as native Rust, calling the same
//! rule functions the WebAssembly components export: the baseline the benchmark compares the
//! wasm chain with.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wicket::policy::types::{AccessRequest, Decision, Identity};
use wicket::store::ModuleVerdict;
use wicket::workflow::{ChainVerdict, Decider};

/// `group-access` → `require-ticket`, natively.
#[derive(Debug, Clone)]
pub struct NativeChain {
    groups: group_access::Settings,
    tickets: require_ticket::Settings,
}

impl NativeChain {
    /// The chain with these settings (the same JSON the wasm modules get).
    pub fn new(groups: &Value, tickets: &Value) -> Result<Self, String> {
        let groups: group_access::Settings =
            serde_json::from_value(groups.clone()).map_err(|e| e.to_string())?;
        groups.validate()?;
        let tickets: require_ticket::Settings =
            serde_json::from_value(tickets.clone()).map_err(|e| e.to_string())?;
        Ok(Self { groups, tickets })
    }
}

fn convert<From: serde::Serialize, To: serde::de::DeserializeOwned>(value: &From) -> Option<To> {
    serde_json::from_value(serde_json::to_value(value).ok()?).ok()
}

impl Decider for NativeChain {
    fn decide(&self, identity: &Identity, request: &AccessRequest) -> Option<ChainVerdict> {
        let started = Instant::now();
        let sdk_identity: wicket_sdk::Identity = convert(identity)?;
        let sdk_request: wicket_sdk::AccessRequest = convert(request)?;
        let first = Instant::now();
        let groups = group_access::decide(&self.groups, &sdk_identity, &sdk_request);
        let groups_took = first.elapsed();
        let second = Instant::now();
        let tickets = require_ticket::decide(&self.tickets, &sdk_request);
        let tickets_took = second.elapsed();
        let groups: Decision = convert(&groups)?;
        let tickets: Decision = convert(&tickets)?;
        let decision = match (&groups, &tickets) {
            (Decision::Deny { reason }, _) => Decision::Deny {
                reason: format!("module `groups`: {reason}"),
            },
            (_, Decision::Deny { reason }) => Decision::Deny {
                reason: format!("module `tickets`: {reason}"),
            },
            (Decision::Allow { grant }, Decision::NeedsApproval { approval }) => {
                let mut approval = approval.clone();
                approval.grant = grant.clone();
                Decision::NeedsApproval { approval }
            }
            (allow, _) => allow.clone(),
        };
        let module = |name: &str, decision: Decision, took: Duration| ModuleVerdict {
            module: name.to_owned(),
            digest: "native".to_owned(),
            decision: Some(decision),
            duration_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            error: None,
        };
        Some(ChainVerdict {
            decision,
            modules: vec![
                module("groups", groups, groups_took),
                module("tickets", tickets, tickets_took),
            ],
            duration: started.elapsed(),
            differences: Vec::new(),
        })
    }

    fn describe(&self) -> Value {
        json!({"native": ["group-access", "require-ticket"]})
    }
}
