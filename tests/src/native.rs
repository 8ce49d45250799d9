//! The sample chain (`group-access` then `require-ticket`) as native Rust, calling the same
//! rule functions the WebAssembly components export: the baseline the benchmark compares the
//! wasm chain with.

use std::time::{Duration, Instant};
use wicket::domain::{AccessRequest, Decision, Identity, ModuleVerdict};

use serde_json::{Value, json};
use wicket::policy::OnDeny;
use wicket::policy::pool;

use wicket::workflow::{BoxFuture, ChainVerdict, Decider};

/// `group-access` → `require-ticket`, natively.
#[derive(Debug, Clone)]
pub struct NativeChain {
    groups: group_access::Settings,
    tickets: require_ticket::Settings,
    groups_on_deny: OnDeny,
}

impl NativeChain {
    /// The chain with these settings (the same JSON the wasm modules get).
    pub fn new(groups: &Value, tickets: &Value) -> Result<Self, String> {
        let groups: group_access::Settings =
            serde_json::from_value(groups.clone()).map_err(|e| e.to_string())?;
        groups.validate()?;
        let tickets: require_ticket::Settings =
            serde_json::from_value(tickets.clone()).map_err(|e| e.to_string())?;
        Ok(Self {
            groups,
            tickets,
            groups_on_deny: OnDeny::Continue,
        })
    }

    /// This chain, going on after a `group-access` deny or not, as a wasm chain entry with
    /// this `on_deny` would.
    pub fn with_groups_on_deny(self, groups_on_deny: OnDeny) -> Self {
        Self {
            groups_on_deny,
            ..self
        }
    }
}

fn convert<From: serde::Serialize, To: serde::de::DeserializeOwned>(value: &From) -> Option<To> {
    serde_json::from_value(serde_json::to_value(value).ok()?).ok()
}

impl Decider for NativeChain {
    fn decide<'a>(
        &'a self,
        identity: &'a Identity,
        request: &'a AccessRequest,
    ) -> BoxFuture<'a, Result<Option<ChainVerdict>, pool::Error>> {
        // Native code decides in microseconds: on the caller's task.
        Box::pin(std::future::ready(Ok(self.decide_now(identity, request))))
    }

    fn describe(&self) -> Value {
        json!({"native": ["group-access", "require-ticket"]})
    }
}

impl NativeChain {
    fn decide_now(&self, identity: &Identity, request: &AccessRequest) -> Option<ChainVerdict> {
        let started = Instant::now();
        let sdk_identity: wicket_sdk::Identity = convert(identity)?;
        let sdk_request: wicket_sdk::AccessRequest = convert(request)?;
        let first = Instant::now();
        let groups = group_access::decide(&self.groups, &sdk_identity, &sdk_request);
        let groups_took = first.elapsed();
        let groups: Decision = convert(&groups)?;
        let stop = self.groups_on_deny == OnDeny::Stop && matches!(groups, Decision::Deny { .. });
        let tickets = if stop {
            None
        } else {
            let second = Instant::now();
            let tickets = require_ticket::decide(&self.tickets, &sdk_request);
            let tickets_took = second.elapsed();
            Some((convert::<_, Decision>(&tickets)?, tickets_took))
        };
        let decision = match (&groups, tickets.as_ref().map(|(decision, _)| decision)) {
            (Decision::Deny { reason }, _) => Decision::Deny {
                reason: format!("module `groups`: {reason}"),
            },
            (_, Some(Decision::Deny { reason })) => Decision::Deny {
                reason: format!("module `tickets`: {reason}"),
            },
            (Decision::Allow { grant }, Some(Decision::NeedsApproval { approval })) => {
                let mut approval = approval.clone();
                approval.grant = grant.clone();
                Decision::NeedsApproval { approval }
            }
            (allow, _) => allow.clone(),
        };
        let module = |name: &str, decision: Option<Decision>, took: Duration| ModuleVerdict {
            module: name.to_owned(),
            digest: "native".to_owned(),
            skipped_after: decision.is_none().then(|| "groups".to_owned()),
            decision,
            duration_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            error: None,
        };
        let (tickets, tickets_took) = match tickets {
            Some((decision, took)) => (Some(decision), took),
            None => (None, Duration::ZERO),
        };
        Some(ChainVerdict {
            decision: decision.into(),
            modules: vec![
                module("groups", Some(groups), groups_took),
                module("tickets", tickets, tickets_took),
            ],
            duration: started.elapsed(),
            differences: Vec::new(),
        })
    }
}
