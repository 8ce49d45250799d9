//! The types of the policy contract, from `wicket-contract` (the crate the SDK uses too).
//!
//! They mirror the `wicket:policy` WIT types and are what the rest of Wicket (workflow,
//! API, store) speaks. Their JSON form is the one used by request files, cases files,
//! `wicket policy eval` output and the REST API:
//!
//! ```json
//! {"decision": "allow", "grant": {"namespaces": [{"namespace": "payments", "role": "edit"}],
//!                                  "cluster_rules": [], "ttl_seconds": 1800}}
//! ```

pub use wicket_contract::{
    Access, AccessRequest, ApiCall, Approval, CallDecision, Decision, Grant, Identity,
    NamespaceGrant, RequestInput, Rule,
};

/// A rule from string slices; an empty `names` means every name.
#[cfg(test)]
pub(crate) fn rule_of(groups: &[&str], resources: &[&str], verbs: &[&str], names: &[&str]) -> Rule {
    Rule::new(
        groups.iter().copied(),
        resources.iter().copied(),
        verbs.iter().copied(),
    )
    .with_resource_names(names.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms_round_trip() {
        let decision: Decision = serde_json::from_str(
            r#"{"decision":"allow","grant":{"namespaces":[{"namespace":"payments","role":"edit"},
                {"namespace":"orders","rules":[{"api_groups":[""],"resources":["pods"],"verbs":["get"]}]}],
                "ttl_seconds":1800}}"#,
        )
        .unwrap();
        let Decision::Allow { grant } = &decision else {
            panic!("expected allow, got {decision:?}")
        };
        assert_eq!(grant.namespaces[0].access, Access::Role("edit".into()));
        assert_eq!(
            grant.namespaces[1].access,
            Access::Rules(vec![Rule {
                api_groups: vec![String::new()],
                resources: vec!["pods".into()],
                verbs: vec!["get".into()],
                resource_names: vec![],
            }])
        );
        let again: Decision =
            serde_json::from_value(serde_json::to_value(&decision).unwrap()).unwrap();
        assert_eq!(again, decision);
    }

    #[test]
    fn request_reads_role_or_rules_and_rfc3339_time() {
        let request: AccessRequest = serde_json::from_str(
            r#"{"id":"r1","cluster":"prod","namespaces":["payments"],"role":"edit",
                "duration_seconds":1800,"reason":"INC-1","requested_at":"2026-11-21T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(request.access, Access::Role("edit".into()));
        assert_eq!(request.requested_at.as_second(), 1_795_255_200);
    }
}
