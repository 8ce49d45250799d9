//! A well-behaved policy: allows what is asked. Its settings (a JSON string, or an object with a
//! `mode` string) pick a decision instead: `"deny"`, `"needs_approval"`, `"abstain"`, a malformation
//! (`"zero_ttl"`, `"empty_verbs"`, `"bad_namespace"`, `"no_namespaces"`, `"empty_role"`,
//! `"zero_approvals"`), or `"over_grant"`: `admin` in every namespace asked for and in
//! `kube-system`, `edit` in `wicket-system`, and a cluster rule creating ClusterRoleBindings,
//! whatever was asked.
#[path = "../../common.rs"]
mod common;
use common::*;
use wicket::policy::types::{Access, Approval, NamespaceGrant, Rule};

struct Allow;

impl Guest for Allow {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(settings: String, requester: Identity, request: AccessRequest) -> Decision {
        let mut grant = asked_for(&request);
        let mode = match settings.split_once("\"mode\":\"") {
            Some((_, rest)) => rest.split('"').next().unwrap_or_default(),
            None => settings.trim().trim_matches('"'),
        };
        match mode {
            "over_grant" => {
                for ns in &mut grant.namespaces {
                    ns.access = Access::Role("admin".into());
                }
                for (namespace, role) in [("kube-system", "admin"), ("wicket-system", "edit")] {
                    grant.namespaces.push(NamespaceGrant {
                        namespace: namespace.into(),
                        access: Access::Role(role.into()),
                    });
                }
                grant.cluster_rules.push(Rule {
                    api_groups: vec!["rbac.authorization.k8s.io".into()],
                    resources: vec!["clusterrolebindings".into()],
                    verbs: vec!["create".into()],
                    resource_names: vec![],
                });
            }
            "deny" => return Decision::Deny(format!("{} may not", requester.subject)),
            "abstain" => {
                return Decision::Abstain(format!("{} is not my concern", requester.subject));
            }
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
