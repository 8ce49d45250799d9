//! RBAC evaluation table: every matching rule of the real authorizer, over a fixture cluster.

use std::collections::BTreeMap;

use kube_sim::auth::UserInfo;
use kube_sim::rbac::escalation::{compact, compact_string, confirm_no_escalation, missing_rules};
use kube_sim::rbac::{Attributes, PolicyRule, authorize, builtin, forbidden_message};
use kube_sim::resources::{RBAC_GROUP, by_kind};
use kube_sim::store::Store;
use rstest::rstest;
use serde_json::Value;

const OBJECTS: &str = include_str!("fixtures/rbac-objects.json");

fn cluster() -> Store {
    let mut store = Store::default();
    let mut objects: Vec<Value> = builtin::cluster_roles();
    objects
        .iter_mut()
        .for_each(|o| o["kind"] = "ClusterRole".into());
    let mut bindings = builtin::cluster_role_bindings();
    bindings
        .iter_mut()
        .for_each(|o| o["kind"] = "ClusterRoleBinding".into());
    objects.extend(bindings);
    objects.extend(serde_json::from_str::<Vec<Value>>(OBJECTS).expect("fixture"));
    for obj in objects {
        let kind = obj["kind"].as_str().expect("kind").to_owned();
        let rt = by_kind(RBAC_GROUP, &kind).expect("rbac kind");
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        store.create(rt, &ns, obj).expect("seed");
    }
    store
}

fn user(name: &str) -> UserInfo {
    let (username, groups): (String, Vec<&str>) = match name {
        "anonymous" => return UserInfo::anonymous(),
        "admin" => (
            "kube-sim-admin".into(),
            vec!["system:masters", "system:authenticated"],
        ),
        "carol" => ("carol".into(), vec!["auditors", "system:authenticated"]),
        "bot" => (
            "system:serviceaccount:team-a:bot".into(),
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:team-a",
                "system:authenticated",
            ],
        ),
        "other-bot" => (
            "system:serviceaccount:team-z:bot".into(),
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:team-z",
                "system:authenticated",
            ],
        ),
        plain => (plain.into(), vec!["system:authenticated"]),
    };
    UserInfo {
        username,
        uid: String::new(),
        groups: groups.into_iter().map(str::to_owned).collect(),
        extra: BTreeMap::new(),
    }
}

/// `verb group resource[/sub] namespace name`, `-` for empty; or `verb path` for a URL.
fn attrs(spec: &str) -> Attributes {
    let f: Vec<&str> = spec
        .split_whitespace()
        .map(|s| if s == "-" { "" } else { s })
        .collect();
    match f[..] {
        [verb, path] => Attributes {
            verb: verb.into(),
            path: path.into(),
            ..Default::default()
        },
        [verb, group, resource, namespace, name] => {
            let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
            Attributes {
                verb: verb.into(),
                resource_request: true,
                namespace: namespace.into(),
                api_group: group.into(),
                resource: resource.into(),
                subresource: subresource.into(),
                name: name.into(),
                path: String::new(),
            }
        }
        _ => panic!("bad attributes `{spec}`"),
    }
}

#[rstest]
#[case::deny_by_default("dave", "get - pods team-a -", false)]
#[case::group_subject_cluster_binding_any_namespace("carol", "list - pods team-z -", true)]
#[case::group_subject_cluster_binding_cluster_scope("carol", "list - pods - -", true)]
#[case::verb_not_in_rule("carol", "delete - pods team-a web", false)]
#[case::user_subject_role_binding_to_cluster_role("alice", "get - pods/status team-a web", true)]
#[case::role_binding_only_in_its_namespace("alice", "get - pods/status team-b web", false)]
#[case::star_slash_sub_matches_any_resource(
    "alice",
    "get apps deployments/status team-a web",
    true
)]
#[case::star_slash_sub_needs_that_subresource("alice", "get - pods/log team-a web", false)]
#[case::star_slash_sub_not_the_parent("alice", "get - pods team-a web", false)]
#[case::sa_subject_defaults_to_binding_namespace("bot", "create apps deployments team-a -", true)]
#[case::star_resource_covers_subresources("bot", "update apps deployments/scale team-a web", true)]
#[case::star_verb_covers_deletecollection(
    "bot",
    "deletecollection apps deployments team-a -",
    true
)]
#[case::api_group_must_match("bot", "create - pods team-a -", false)]
#[case::cluster_role_via_role_binding_not_cluster_wide("bot", "list apps deployments - -", false)]
#[case::sa_subject_with_explicit_namespace("bot", "list - pods team-b -", true)]
#[case::sa_subject_namespace_must_match("other-bot", "list - pods team-b -", false)]
#[case::resource_names_match_get("bot", "get - configmaps team-a app-config", true)]
#[case::resource_names_match_update("bot", "update - configmaps team-a app-config", true)]
#[case::resource_names_other_name("bot", "get - configmaps team-a other", false)]
#[case::resource_names_never_list("bot", "list - configmaps team-a -", false)]
#[case::resource_names_never_watch("bot", "watch - configmaps team-a -", false)]
#[case::resource_names_never_create("bot", "create - configmaps team-a -", false)]
#[case::resource_names_never_deletecollection(
    "bot",
    "deletecollection - configmaps team-a -",
    false
)]
#[case::non_resource_exact("alice", "get /metrics", true)]
#[case::non_resource_trailing_star_prefix("alice", "get /logs/kubelet.log", true)]
#[case::non_resource_star_needs_the_slash("alice", "get /logs", false)]
#[case::non_resource_verb_must_match("alice", "post /metrics", false)]
#[case::missing_role_grants_nothing("eve", "get - configmaps team-a app-config", false)]
#[case::system_masters_bypass_rbac(
    "admin",
    "delete rbac.authorization.k8s.io clusterroles - cluster-admin",
    true
)]
#[case::discovery_for_authenticated("dave", "get /apis/apps/v1", true)]
#[case::version_for_anonymous("anonymous", "get /version", true)]
#[case::discovery_not_for_anonymous("anonymous", "get /api", false)]
#[case::self_access_review_for_authenticated(
    "dave",
    "create authorization.k8s.io selfsubjectaccessreviews - -",
    true
)]
#[case::view_reads_pods("frank", "list - pods team-a -", true)]
#[case::view_never_reads_secrets("frank", "get - secrets team-a s", false)]
#[case::edit_writes_secrets("george", "create - secrets team-a -", true)]
#[case::edit_never_writes_roles("george", "create rbac.authorization.k8s.io roles team-a -", false)]
#[case::edit_mints_tokens("george", "create - serviceaccounts/token team-a bot", true)]
#[case::admin_writes_roles(
    "henry",
    "create rbac.authorization.k8s.io rolebindings team-a -",
    true
)]
#[case::admin_not_cluster_wide(
    "henry",
    "create rbac.authorization.k8s.io rolebindings team-b -",
    false
)]
fn authorize_table(#[case] who: &str, #[case] request: &str, #[case] allowed: bool) {
    let store = cluster();
    let decision = authorize(&store, &user(who), &attrs(request));
    assert_eq!(decision.allowed, allowed, "{who}: {request}");
    assert_eq!(decision.reason.is_empty(), !allowed || who == "admin");
}

#[test]
fn allow_reason_names_the_binding_role_and_subject() {
    let d = authorize(&cluster(), &user("bot"), &attrs("list - pods team-b -"));
    assert_eq!(
        d.reason,
        r#"RBAC: allowed by RoleBinding "team-a-bot-reads-team-b/team-b" of ClusterRole "pod-reader" to ServiceAccount "bot/team-a""#
    );
}

#[rstest]
#[case::namespaced(
    "get - pods team-a web",
    r#"User "dave" cannot get resource "pods" in API group "" in the namespace "team-a""#
)]
#[case::cluster_scope("list rbac.authorization.k8s.io clusterroles - -", r#"User "dave" cannot list resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope"#)]
#[case::subresource("create - serviceaccounts/token team-a bot", r#"User "dave" cannot create resource "serviceaccounts/token" in API group "" in the namespace "team-a""#)]
#[case::path("get /metrics", r#"User "dave" cannot get path "/metrics""#)]
fn forbidden_message_table(#[case] request: &str, #[case] expected: &str) {
    assert_eq!(forbidden_message(&user("dave"), &attrs(request)), expected);
}

fn rule(v: serde_json::Value) -> PolicyRule {
    serde_json::from_value(v).expect("rule")
}

#[rstest]
#[case::same_rule(
    r#"{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}"#,
    r#"{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}"#,
    0
)]
#[case::star_verb_covers(
    r#"{"apiGroups":[""],"resources":["pods"],"verbs":["*"]}"#,
    r#"{"apiGroups":[""],"resources":["pods"],"verbs":["get","delete"]}"#,
    0
)]
#[case::missing_verbs(
    r#"{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}"#,
    r#"{"apiGroups":[""],"resources":["pods"],"verbs":["get","delete","list"]}"#,
    2
)]
#[case::star_slash_sub_covers(
    r#"{"apiGroups":[""],"resources":["*/status"],"verbs":["get"]}"#,
    r#"{"apiGroups":[""],"resources":["pods/status"],"verbs":["get"]}"#,
    0
)]
#[case::parent_does_not_cover_sub(
    r#"{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}"#,
    r#"{"apiGroups":[""],"resources":["pods/log"],"verbs":["get"]}"#,
    1
)]
#[case::names_do_not_cover_all(
    r#"{"apiGroups":[""],"resources":["pods"],"resourceNames":["a"],"verbs":["get"]}"#,
    r#"{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}"#,
    1
)]
#[case::all_names_cover_one(
    r#"{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}"#,
    r#"{"apiGroups":[""],"resources":["pods"],"resourceNames":["a","b"],"verbs":["get"]}"#,
    0
)]
#[case::url_prefix_covers(
    r#"{"nonResourceURLs":["/logs/*"],"verbs":["get"]}"#,
    r#"{"nonResourceURLs":["/logs/a","/logs/b/*"],"verbs":["get"]}"#,
    0
)]
#[case::url_not_covered(
    r#"{"nonResourceURLs":["/logs/*"],"verbs":["get"]}"#,
    r#"{"nonResourceURLs":["/metrics"],"verbs":["get"]}"#,
    1
)]
#[case::group_must_match(
    r#"{"apiGroups":["apps"],"resources":["*"],"verbs":["*"]}"#,
    r#"{"apiGroups":["batch"],"resources":["jobs"],"verbs":["get"]}"#,
    1
)]
fn escalation_covers_table(#[case] owned: &str, #[case] wanted: &str, #[case] missing: usize) {
    let owned = rule(serde_json::from_str(owned).expect("json"));
    let wanted = rule(serde_json::from_str(wanted).expect("json"));
    assert_eq!(missing_rules(&[owned], &[wanted]).len(), missing);
}

#[test]
fn escalation_message_lists_compacted_missing_rules() {
    let owned = [rule(
        serde_json::json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}),
    )];
    let wanted = [rule(
        serde_json::json!({"apiGroups": ["", "apps"], "resources": ["pods"], "verbs": ["get", "list"]}),
    )];
    let groups = vec!["g1".to_owned(), "system:authenticated".to_owned()];
    let msg = confirm_no_escalation("alice", &groups, &owned, &wanted).expect("escalation");
    assert_eq!(
        msg,
        "user \"alice\" (groups=[\"g1\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"list\"]}\n\
         {APIGroups:[\"apps\"], Resources:[\"pods\"], Verbs:[\"get\" \"list\"]}"
    );
    assert!(confirm_no_escalation("alice", &groups, &wanted, &owned).is_none());
    let c = compact(missing_rules(&owned, &wanted));
    assert_eq!(c.iter().map(compact_string).count(), 2);
}
