//! Protobuf request bodies (what kubectl >= 1.32 sends) decode to the JSON object form.

use k8s_pb::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_pb::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_pb::api::core::v1::{Namespace, Secret};
use k8s_pb::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use kube_sim::proto::to_json;
use prost::Message;
use rstest::rstest;
use serde_json::{Value, json};

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [b"k8s\0".to_vec(), unknown.encode_to_vec()].concat()
}

fn meta(name: &str) -> Option<ObjectMeta> {
    Some(ObjectMeta {
        name: Some(name.into()),
        labels: [("team".to_owned(), "a".to_owned())].into(),
        ..Default::default()
    })
}

#[rstest]
#[case::namespace(
    envelope("v1", "Namespace", Namespace { metadata: meta("team-a"), ..Default::default() }.encode_to_vec()),
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": {"team": "a"}}, "spec": {"finalizers": []}})
)]
#[case::token_request(
    envelope("authentication.k8s.io/v1", "TokenRequest", TokenRequest {
        metadata: meta("bot"),
        spec: Some(TokenRequestSpec { audiences: vec!["wicket".into()], expiration_seconds: Some(900), bound_object_ref: None }),
        status: None,
    }.encode_to_vec()),
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "metadata": {"name": "bot", "labels": {"team": "a"}},
           "spec": {"audiences": ["wicket"], "expirationSeconds": 900}})
)]
#[case::self_subject_access_review(
    envelope("authorization.k8s.io/v1", "SelfSubjectAccessReview", SelfSubjectAccessReview {
        metadata: None,
        spec: Some(SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some("team-a".into()), verb: Some("list".into()), resource: Some("pods".into()), ..Default::default()
            }),
            non_resource_attributes: None,
        }),
        status: None,
    }.encode_to_vec()),
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {},
           "spec": {"resourceAttributes": {"namespace": "team-a", "verb": "list", "resource": "pods"}}})
)]
#[case::role(
    envelope("rbac.authorization.k8s.io/v1", "Role", Role {
        metadata: meta("r"),
        rules: vec![PolicyRule { verbs: vec!["get".into()], api_groups: vec!["".into()], resources: vec!["pods".into()], resource_names: vec!["web".into()], non_resource_ur_ls: vec![] }],
    }.encode_to_vec()),
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r", "labels": {"team": "a"}},
           "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]}]})
)]
#[case::role_binding(
    envelope("rbac.authorization.k8s.io/v1", "RoleBinding", RoleBinding {
        metadata: meta("b"),
        subjects: vec![Subject { kind: Some("ServiceAccount".into()), api_group: Some(String::new()), name: Some("bot".into()), namespace: Some("team-a".into()) }],
        role_ref: Some(RoleRef { api_group: Some("rbac.authorization.k8s.io".into()), kind: Some("Role".into()), name: Some("r".into()) }),
    }.encode_to_vec()),
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b", "labels": {"team": "a"}},
           "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "team-a"}],
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}})
)]
#[case::secret_bytes_become_base64(
    envelope("v1", "Secret", Secret {
        metadata: meta("s"),
        data: [("k".to_owned(), b"hello".to_vec())].into(),
        r#type: Some("Opaque".into()),
        ..Default::default()
    }.encode_to_vec()),
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": {"team": "a"}}, "data": {"k": "aGVsbG8="}, "type": "Opaque"})
)]
fn protobuf_bodies_decode_to_json(#[case] body: Vec<u8>, #[case] expected: Value) {
    assert_eq!(to_json(&body).expect("decodes"), expected);
}

#[rstest]
#[case::no_envelope(b"{\"kind\":\"Namespace\"}".to_vec(), "unable to decode the protobuf body: missing the `k8s` envelope")]
#[case::unsupported_kind(envelope("v1", "Node", vec![]), "unable to decode the protobuf body: kind `Node` is not supported in protobuf; send JSON")]
fn bad_protobuf_bodies_are_400(#[case] body: Vec<u8>, #[case] message: &str) {
    let err = to_json(&body).expect_err("invalid");
    assert_eq!((err.code, err.message.as_str()), (400, message));
}
