//! A policy's answer.

use alloc::string::String;

use serde::{Deserialize, Serialize};

use crate::grant::{Approval, Grant};
use crate::request::AccessRequest;

/// A policy's answer to an access request. In JSON
/// `{"decision": "allow", "grant": {...}}`, `{"decision": "deny", "reason": "..."}`,
/// `{"decision": "needs_approval", "approval": {...}}` (the [`Approval`] object) or
/// `{"decision": "abstain", "reason": "..."}`.
///
/// ```
/// use wicket_contract::{Access, AccessRequest, Decision, Grant};
///
/// let request = AccessRequest::new("prod", Access::role("view"), 600).with_namespace("web");
/// let allow = Decision::allow(Grant::from_request(&request));
/// assert!(matches!(allow, Decision::Allow { ref grant } if grant.ttl_seconds == 600));
/// assert_eq!(Decision::deny("no"), Decision::Deny { reason: "no".into() });
/// assert_eq!(Decision::abstain("not on call").kind(), "abstain");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Allow, with exactly this access.
    Allow {
        /// The access allowed.
        grant: Grant,
    },
    /// Deny.
    Deny {
        /// Why, shown to the requester.
        reason: String,
    },
    /// Allow once approved as described.
    NeedsApproval {
        /// The approval needed and the grant it unlocks.
        approval: Approval,
    },
    /// Not this policy's concern: a chain goes on as if the policy were not in it (and denies
    /// when every policy abstains).
    Abstain {
        /// Why, for the logs.
        reason: String,
    },
}

impl Decision {
    /// Allow with exactly `grant`.
    pub fn allow(grant: Grant) -> Self {
        Self::Allow { grant }
    }

    /// Allow exactly what `request` asks for ([`Grant::from_request`]).
    pub fn allow_as_requested(request: &AccessRequest) -> Self {
        Self::allow(Grant::from_request(request))
    }

    /// Deny because of `reason`.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self::Deny {
            reason: reason.into(),
        }
    }

    /// Allow once `approval` is given.
    pub fn needs_approval(approval: Approval) -> Self {
        Self::NeedsApproval { approval }
    }

    /// Leave the decision to the other policies of the chain because of `reason` (e.g. "not
    /// on call"): this policy has no opinion on the request.
    pub fn abstain(reason: impl Into<String>) -> Self {
        Self::Abstain {
            reason: reason.into(),
        }
    }

    /// The decision's name as in JSON: `allow`, `deny`, `needs_approval` or `abstain`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Allow { .. } => "allow",
            Self::Deny { .. } => "deny",
            Self::NeedsApproval { .. } => "needs_approval",
            Self::Abstain { .. } => "abstain",
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::CallDecision;

    #[test]
    fn abstain_and_call_decisions_have_their_json_forms() {
        let abstain = Decision::abstain("not on call");
        let written = serde_json::to_value(&abstain).unwrap();
        assert_eq!(
            written,
            json!({"decision": "abstain", "reason": "not on call"})
        );
        assert_eq!(
            serde_json::from_value::<Decision>(written).unwrap(),
            abstain
        );
        let deny = CallDecision::deny("read-only");
        assert_eq!(
            serde_json::to_value(&deny).unwrap(),
            json!({"decision": "deny", "reason": "read-only"})
        );
        assert_eq!(
            serde_json::from_value::<CallDecision>(json!({"decision": "allow"})).unwrap(),
            CallDecision::Allow
        );
    }
}
