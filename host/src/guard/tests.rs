use jiff::Timestamp;
use rstest::rstest;

use super::*;

fn r(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Rule {
    crate::domain::rule_of(groups, resources, verbs, &[])
}

fn guardrails() -> Guardrails {
    Guardrails::default()
}

fn request(namespaces: &[&str], access: Access, cluster_rules: Vec<Rule>) -> AccessRequest {
    AccessRequest {
        id: "r1".into(),
        cluster: "prod".into(),
        namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
        access,
        cluster_rules,
        duration_seconds: 600,
        reason: "why".into(),
        context: Default::default(),
        requested_at: Timestamp::UNIX_EPOCH,
        evaluated_at: Timestamp::UNIX_EPOCH,
        extends: None,
    }
}

#[rstest]
#[case::edit(request(&["payments"], Access::Role("edit".into()), vec![]))]
#[case::rules(request(&["payments"], Access::Rules(vec![r(&[""], &["pods", "pods/log"], &["get", "list"])]), vec![]))]
#[case::list_nodes(request(&[], Access::Rules(vec![]), vec![r(&[""], &["nodes"], &["list"])]))]
fn ordinary_requests_pass(#[case] request: AccessRequest) {
    assert_eq!(guardrails().check_request(&request), Ok(()));
}

#[rstest]
#[case::wicket_own(request(&["wicket-system"], Access::Role("edit".into()), vec![]), Violation::ProtectedNamespace("wicket-system".into()))]
#[case::jit(request(&["payments", "wicket-jit"], Access::Role("view".into()), vec![]), Violation::ProtectedNamespace("wicket-jit".into()))]
#[case::kube_system(request(&["kube-system"], Access::Role("view".into()), vec![]), Violation::ProtectedNamespace("kube-system".into()))]
#[case::kube_public(request(&["kube-public"], Access::Role("view".into()), vec![]), Violation::ProtectedNamespace("kube-public".into()))]
#[case::kube_node_lease(request(&["kube-node-lease"], Access::Role("view".into()), vec![]), Violation::ProtectedNamespace("kube-node-lease".into()))]
#[case::cluster_admin(request(&["payments"], Access::Role("cluster-admin".into()), vec![]), Violation::RoleNotBindable { role: "cluster-admin".into(), bindable: "`admin`, `edit`, `view`".into() })]
#[case::upstream_edit_by_its_name(request(&["payments"], Access::Role("wicket-edit".into()), vec![]), Violation::RoleNotBindable { role: "wicket-edit".into(), bindable: "`admin`, `edit`, `view`".into() })]
#[case::token_rule(request(&["payments"], Access::Rules(vec![r(&[""], &["serviceaccounts/token"], &["create"])]), vec![]), Violation::Rule { namespace: "payments".into(), rule: "create serviceaccounts/token (core)".into(), why: Forbidden::Resource("serviceaccounts/token".into()) })]
#[case::secrets(request(&["payments"], Access::Rules(vec![r(&[""], &["secrets"], &["get"])]), vec![]), Violation::Rule { namespace: "payments".into(), rule: "get secrets (core)".into(), why: Forbidden::Secrets })]
#[case::crb(request(&[], Access::Rules(vec![]), vec![r(&[rules::RBAC_GROUP], &["clusterrolebindings"], &["create"])]), Violation::ClusterRule { rule: "create clusterrolebindings (rbac.authorization.k8s.io)".into(), why: Forbidden::RbacWrite })]
fn refused_requests(#[case] request: AccessRequest, #[case] expected: Violation) {
    assert_eq!(guardrails().check_request(&request), Err(expected));
}

#[test]
fn grants_are_checked_like_requests() {
    let grant = Grant {
        namespaces: vec![NamespaceGrant {
            namespace: "kube-system".into(),
            access: Access::Role("view".into()),
        }],
        cluster_rules: vec![],
        ttl_seconds: 60,
    };
    assert_eq!(
        guardrails().check_grant(&grant),
        Err(Violation::ProtectedNamespace("kube-system".into()))
    );
}

#[test]
fn roles_are_bound_by_their_cluster_role() {
    let grant = Grant {
        namespaces: vec![
            NamespaceGrant {
                namespace: "a".into(),
                access: Access::Role("edit".into()),
            },
            NamespaceGrant {
                namespace: "b".into(),
                access: Access::Rules(vec![r(&[""], &["pods"], &["get"])]),
            },
        ],
        cluster_rules: vec![],
        ttl_seconds: 60,
    };
    let bound = guardrails().bind(&grant).unwrap();
    assert_eq!(
        bound.namespaces[0].access,
        Access::Role("wicket-edit".into())
    );
    assert_eq!(bound.namespaces[1].access, grant.namespaces[1].access);
    let mut unknown = grant.clone();
    unknown.namespaces[0].access = Access::Role("admin2".into());
    assert!(guardrails().bind(&unknown).is_err(), "fails closed");
}

#[test]
fn a_bindable_role_holding_a_forbidden_rule_is_refused() {
    let upstream_edit = [
        r(&[""], &["pods"], &["get"]),
        r(&[""], &["serviceaccounts/token"], &["create"]),
    ];
    assert_eq!(
        guardrails().check_bindable("edit", "edit", &upstream_edit),
        Err(Violation::BindableRole {
            role: "edit".into(),
            cluster_role: "edit".into(),
            rule: "create serviceaccounts/token (core)".into(),
            why: Forbidden::Resource("serviceaccounts/token".into()),
        })
    );
    assert_eq!(
        guardrails().check_bindable("edit", "wicket-edit", &upstream_edit[..1]),
        Ok(())
    );
}

#[rstest]
#[case::nodes(r(&[""], &["nodes", "nodes/status"], &["get"]), Ok(()))]
#[case::namespaced(r(&[""], &["nodes", "secrets"], &["get"]), Err(Violation::NamespacedClusterRule { rule: "get nodes,secrets (core)".into(), resource: "secrets".into() }))]
#[case::unknown(r(&["example.com"], &["widgets"], &["get"]), Err(Violation::UnknownResource { rule: "get widgets (example.com)".into(), resource: "example.com/widgets".into() }))]
fn cluster_rules_name_cluster_scoped_resources(
    #[case] rule: Rule,
    #[case] expected: Result<(), Violation>,
) {
    let discovery = |group: &str, resource: &str| match (group, resource) {
        ("", "nodes" | "namespaces") => Some(Scope::Cluster),
        ("", "pods" | "secrets") => Some(Scope::Namespaced),
        _ => None,
    };
    assert_eq!(Guardrails::check_scopes(&[rule], discovery), expected);
}
