//! A well-behaved policy: allows what is asked. Its settings (a JSON string) pick a decision
//! instead: `"deny"`, `"needs_approval"`, or a malformation (`"zero_ttl"`, `"empty_verbs"`,
//! `"bad_namespace"`, `"no_namespaces"`, `"empty_role"`, `"zero_approvals"`).
#[path = "../../common.rs"]
mod common;
use common::*;
use wicket::policy::types::{Access, Approval, Rule};

struct Allow;

impl Guest for Allow {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(settings: String, requester: Identity, request: AccessRequest) -> Decision {
        let mut grant = asked_for(&request);
        match settings.trim().trim_matches('"') {
            "deny" => return Decision::Deny(format!("{} may not", requester.subject)),
            "needs_approval" => {
                return Decision::NeedsApproval(Approval {
                    groups: vec!["leads".into()],
                    subjects: vec![],
                    count: 1,
                    reason: "a lead must agree".into(),
                    grant,
                });
            }
            "zero_ttl" => grant.ttl_seconds = 0,
            "empty_verbs" => {
                for ns in &mut grant.namespaces {
                    ns.access = Access::Rules(vec![Rule {
                        api_groups: vec![String::new()],
                        resources: vec!["pods".into()],
                        verbs: vec![],
                        resource_names: vec![],
                    }]);
                }
            }
            "bad_namespace" => grant.namespaces[0].namespace = "Not A Namespace".into(),
            "no_namespaces" => grant.namespaces.clear(),
            "empty_role" => grant.namespaces[0].access = Access::Role(String::new()),
            "zero_approvals" => {
                return Decision::NeedsApproval(Approval {
                    groups: vec!["leads".into()],
                    subjects: vec![],
                    count: 0,
                    reason: "nobody needs to agree".into(),
                    grant,
                });
            }
            _ => {}
        }
        Decision::Allow(grant)
    }
}

export!(Allow);
