//! Request-info (method/path → verb, namespace, resource) and label-selector tables.

use std::collections::BTreeMap;

use kube_sim::patch::{json_patch, merge_patch};
use kube_sim::request_info::parse;
use kube_sim::selector::{FieldSelector, LabelSelector};
use rstest::rstest;
use serde_json::{Value, json};

#[rstest]
#[case::list("GET", "/api/v1/namespaces/ns/pods", false, "list ns - pods - -")]
#[case::watch_query("GET", "/api/v1/namespaces/ns/pods", true, "watch ns - pods - -")]
#[case::watch_path(
    "GET",
    "/api/v1/watch/namespaces/ns/pods",
    false,
    "watch ns - pods - -"
)]
#[case::get("GET", "/api/v1/namespaces/ns/pods/web", false, "get ns - pods - web")]
#[case::create(
    "POST",
    "/apis/apps/v1/namespaces/ns/deployments",
    false,
    "create ns apps deployments - -"
)]
#[case::update(
    "PUT",
    "/apis/apps/v1/namespaces/ns/deployments/d",
    false,
    "update ns apps deployments - d"
)]
#[case::patch(
    "PATCH",
    "/api/v1/namespaces/ns/configmaps/c",
    false,
    "patch ns - configmaps - c"
)]
#[case::delete(
    "DELETE",
    "/api/v1/namespaces/ns/configmaps/c",
    false,
    "delete ns - configmaps - c"
)]
#[case::deletecollection(
    "DELETE",
    "/api/v1/namespaces/ns/configmaps",
    false,
    "deletecollection ns - configmaps - -"
)]
#[case::subresource(
    "POST",
    "/api/v1/namespaces/ns/serviceaccounts/bot/token",
    false,
    "create ns - serviceaccounts token bot"
)]
#[case::namespace_itself("GET", "/api/v1/namespaces/ns", false, "get ns - namespaces - ns")]
#[case::namespace_status(
    "PUT",
    "/api/v1/namespaces/ns/status",
    false,
    "update ns - namespaces status ns"
)]
#[case::cluster_scoped(
    "GET",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles/view",
    false,
    "get - rbac.authorization.k8s.io clusterroles - view"
)]
/// `expected` is `verb namespace group resource subresource name`, `-` for empty.
fn resource_requests(
    #[case] method: &str,
    #[case] path: &str,
    #[case] watch: bool,
    #[case] expected: &str,
) {
    let a = parse(method, path, watch).attrs;
    assert!(a.resource_request);
    let got = [
        &a.verb,
        &a.namespace,
        &a.api_group,
        &a.resource,
        &a.subresource,
        &a.name,
    ]
    .map(|s| if s.is_empty() { "-" } else { s.as_str() })
    .join(" ");
    assert_eq!(got, expected);
}

#[rstest]
#[case::discovery_core("GET", "/api", "get")]
#[case::discovery_group_version("GET", "/apis/apps/v1", "get")]
#[case::version("GET", "/version", "get")]
#[case::post_path("POST", "/kube-sim/v1/faults", "post")]
fn non_resource_requests(#[case] method: &str, #[case] path: &str, #[case] verb: &str) {
    let a = parse(method, path, false).attrs;
    assert!(!a.resource_request);
    assert_eq!((a.verb.as_str(), a.path.as_str()), (verb, path));
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[rstest]
#[case::equals("tier=web", true)]
#[case::double_equals("tier==web", true)]
#[case::not_equals("tier!=web", false)]
#[case::not_equals_absent_key("zone!=eu", true)]
#[case::in_set("tier in (db, web)", true)]
#[case::not_in_set("tier notin (web)", false)]
#[case::not_in_absent_key("zone notin (eu)", true)]
#[case::exists("tier", true)]
#[case::exists_absent("zone", false)]
#[case::does_not_exist("!zone", true)]
#[case::does_not_exist_present("!tier", false)]
#[case::all_must_hold("tier=web,app in (shop),!zone", true)]
#[case::one_fails("tier=web,app=blog", false)]
#[case::empty_matches_all("", true)]
fn label_selector_table(#[case] selector: &str, #[case] matches: bool) {
    let sel = LabelSelector::parse(selector).expect("valid selector");
    assert_eq!(
        sel.matches(&labels(&[("tier", "web"), ("app", "shop")])),
        matches
    );
}

#[rstest]
#[case::bad_key("=web")]
#[case::unparenthesised_set("tier in web")]
#[case::unknown_operator("tier ~ web")]
fn label_selector_errors_are_400(#[case] selector: &str) {
    let err = LabelSelector::parse(selector).expect_err("invalid");
    assert_eq!(err.code, 400);
    assert!(
        err.message.starts_with("unable to parse requirement"),
        "{}",
        err.message
    );
}

#[rstest]
#[case::name_equals("metadata.name=a", "a", "ns", true)]
#[case::name_not_equals("metadata.name!=a", "a", "ns", false)]
#[case::namespace("metadata.namespace==ns", "b", "ns", true)]
fn field_selector_table(
    #[case] selector: &str,
    #[case] name: &str,
    #[case] namespace: &str,
    #[case] matches: bool,
) {
    assert_eq!(
        FieldSelector::parse(selector)
            .expect("valid")
            .matches(name, namespace),
        matches
    );
}

#[test]
fn unsupported_field_selector_is_400() {
    let err = FieldSelector::parse("spec.nodeName=n1").expect_err("unsupported");
    assert_eq!(
        (err.code, err.message.as_str()),
        (400, "field label not supported: spec.nodeName")
    );
}

#[rstest]
#[case::add_field(json!({"b": 2}), json!({"a": 1, "b": 2, "o": {"x": 1}}))]
#[case::null_removes(json!({"a": null}), json!({"o": {"x": 1}}))]
#[case::nested_merge(json!({"o": {"y": 2}}), json!({"a": 1, "o": {"x": 1, "y": 2}}))]
#[case::scalar_replaces_object(json!({"o": 5}), json!({"a": 1, "o": 5}))]
fn merge_patch_table(#[case] patch: Value, #[case] expected: Value) {
    let mut doc = json!({"a": 1, "o": {"x": 1}});
    merge_patch(&mut doc, &patch);
    assert_eq!(doc, expected);
}

#[rstest]
#[case::replace(json!([{"op": "replace", "path": "/a", "value": 9}]), json!({"a": 9, "l": [1, 2]}))]
#[case::add_to_object(json!([{"op": "add", "path": "/b", "value": "x"}]), json!({"a": 1, "b": "x", "l": [1, 2]}))]
#[case::append(json!([{"op": "add", "path": "/l/-", "value": 3}]), json!({"a": 1, "l": [1, 2, 3]}))]
#[case::insert(json!([{"op": "add", "path": "/l/0", "value": 0}]), json!({"a": 1, "l": [0, 1, 2]}))]
#[case::remove(json!([{"op": "remove", "path": "/l/1"}, {"op": "remove", "path": "/a"}]), json!({"l": [1]}))]
#[case::test_passes(json!([{"op": "test", "path": "/a", "value": 1}]), json!({"a": 1, "l": [1, 2]}))]
fn json_patch_table(#[case] ops: Value, #[case] expected: Value) {
    let mut doc = json!({"a": 1, "l": [1, 2]});
    json_patch(&mut doc, &ops).expect("applies");
    assert_eq!(doc, expected);
}

#[rstest]
#[case::failed_test(json!([{"op": "test", "path": "/a", "value": 2}]), 422)]
#[case::missing_path(json!([{"op": "replace", "path": "/nope", "value": 2}]), 400)]
#[case::unknown_op(json!([{"op": "move", "from": "/a", "path": "/b"}]), 400)]
fn json_patch_errors(#[case] ops: Value, #[case] code: u16) {
    let mut doc = json!({"a": 1});
    assert_eq!(json_patch(&mut doc, &ops).expect_err("fails").code, code);
}
