//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`): the `k8s\0` envelope around a
//! `runtime.Unknown`, decoded with `k8s-pb` and converted to the JSON object form the store keeps.
//! Namespaces, ServiceAccounts, Secrets, ConfigMaps, RBAC kinds, token and access reviews are
//! converted in full; Pods and Deployments keep metadata, replicas, selector and the basic
//! container fields (name, image, command, args, env values, ports).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_pb::api::{
    apps, authentication as authn, authorization as authz, core::v1 as core, rbac::v1 as rbac,
};
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value, json};

use crate::status::ApiError;

/// The protobuf media type.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

fn bad(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("unable to decode the protobuf body: {why}"))
}

fn put<T: serde::Serialize>(m: &mut Map<String, Value>, k: &str, v: T) {
    let v = json!(v);
    let empty = match &v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty {
        m.insert(k.to_owned(), v);
    }
}

fn object_meta(m: Option<meta::ObjectMeta>) -> Value {
    let m = m.unwrap_or_default();
    let mut o = Map::new();
    put(&mut o, "name", m.name);
    put(&mut o, "generateName", m.generate_name);
    put(&mut o, "namespace", m.namespace);
    put(&mut o, "uid", m.uid);
    put(&mut o, "resourceVersion", m.resource_version);
    put(&mut o, "labels", m.labels);
    put(&mut o, "annotations", m.annotations);
    put(&mut o, "finalizers", m.finalizers);
    Value::Object(o)
}

fn bytes_map(m: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
    m.into_iter()
        .map(|(k, v)| (k, STANDARD.encode(v)))
        .collect()
}

fn policy_rules(rules: Vec<rbac::PolicyRule>) -> Value {
    Value::Array(
        rules
            .into_iter()
            .map(|r| {
                let mut o = Map::new();
                o.insert("verbs".into(), json!(r.verbs));
                put(&mut o, "apiGroups", r.api_groups);
                put(&mut o, "resources", r.resources);
                put(&mut o, "resourceNames", r.resource_names);
                put(&mut o, "nonResourceURLs", r.non_resource_ur_ls);
                Value::Object(o)
            })
            .collect(),
    )
}

fn subjects(s: Vec<rbac::Subject>) -> Value {
    Value::Array(
        s.into_iter()
            .map(|s| {
                let mut o = Map::new();
                put(&mut o, "kind", s.kind);
                put(&mut o, "apiGroup", s.api_group);
                put(&mut o, "name", s.name);
                put(&mut o, "namespace", s.namespace);
                Value::Object(o)
            })
            .collect(),
    )
}

fn role_ref(r: Option<rbac::RoleRef>) -> Value {
    let r = r.unwrap_or_default();
    json!({"apiGroup": r.api_group.unwrap_or_default(), "kind": r.kind.unwrap_or_default(), "name": r.name.unwrap_or_default()})
}

fn resource_attributes(
    a: Option<authz::v1::ResourceAttributes>,
    non: Option<authz::v1::NonResourceAttributes>,
) -> Map<String, Value> {
    let mut spec = Map::new();
    if let Some(a) = a {
        let mut o = Map::new();
        put(&mut o, "namespace", a.namespace);
        put(&mut o, "verb", a.verb);
        put(&mut o, "group", a.group);
        put(&mut o, "version", a.version);
        put(&mut o, "resource", a.resource);
        put(&mut o, "subresource", a.subresource);
        put(&mut o, "name", a.name);
        spec.insert("resourceAttributes".into(), Value::Object(o));
    }
    if let Some(n) = non {
        let mut o = Map::new();
        put(&mut o, "path", n.path);
        put(&mut o, "verb", n.verb);
        spec.insert("nonResourceAttributes".into(), Value::Object(o));
    }
    spec
}

fn pod_spec(s: Option<core::PodSpec>) -> Value {
    let s = s.unwrap_or_default();
    let containers: Vec<Value> = s
        .containers
        .into_iter()
        .map(|c| {
            let mut o = Map::new();
            put(&mut o, "name", c.name);
            put(&mut o, "image", c.image);
            put(&mut o, "command", c.command);
            put(&mut o, "args", c.args);
            let env: Vec<Value> = c
                .env
                .into_iter()
                .map(|e| json!({"name": e.name, "value": e.value}))
                .collect();
            put(&mut o, "env", env);
            let ports: Vec<Value> = c
                .ports
                .into_iter()
                .map(|p| {
                    let mut po = Map::new();
                    put(&mut po, "name", p.name);
                    put(&mut po, "containerPort", p.container_port);
                    put(&mut po, "protocol", p.protocol);
                    Value::Object(po)
                })
                .collect();
            put(&mut o, "ports", ports);
            Value::Object(o)
        })
        .collect();
    let mut o = Map::new();
    o.insert("containers".into(), Value::Array(containers));
    put(&mut o, "restartPolicy", s.restart_policy);
    put(&mut o, "serviceAccountName", s.service_account_name);
    Value::Object(o)
}

fn decode<M: Message + Default>(raw: &[u8]) -> Result<M, ApiError> {
    M::decode(raw).map_err(bad)
}

/// Decodes a protobuf request body into the JSON object form (with `apiVersion` and `kind`).
pub fn to_json(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| bad("missing the `k8s` envelope"))?;
    let unknown = Unknown::decode(envelope).map_err(bad)?;
    let tm = unknown.type_meta.unwrap_or_default();
    let (api_version, kind) = (
        tm.api_version.unwrap_or_default(),
        tm.kind.unwrap_or_default(),
    );
    let raw = unknown.raw.unwrap_or_default();
    let mut out = match kind.as_str() {
        "Namespace" => {
            let n: core::Namespace = decode(&raw)?;
            json!({"metadata": object_meta(n.metadata), "spec": {"finalizers": n.spec.unwrap_or_default().finalizers}})
        }
        "ServiceAccount" => {
            let s: core::ServiceAccount = decode(&raw)?;
            let mut o = Map::new();
            o.insert("metadata".into(), object_meta(s.metadata));
            put(
                &mut o,
                "automountServiceAccountToken",
                s.automount_service_account_token,
            );
            let pulls: Vec<Value> = s
                .image_pull_secrets
                .into_iter()
                .map(|r| json!({"name": r.name}))
                .collect();
            put(&mut o, "imagePullSecrets", pulls);
            Value::Object(o)
        }
        "Secret" => {
            let s: core::Secret = decode(&raw)?;
            let mut o = Map::new();
            o.insert("metadata".into(), object_meta(s.metadata));
            put(&mut o, "data", bytes_map(s.data));
            put(&mut o, "stringData", s.string_data);
            put(&mut o, "type", s.r#type);
            put(&mut o, "immutable", s.immutable);
            Value::Object(o)
        }
        "ConfigMap" => {
            let c: core::ConfigMap = decode(&raw)?;
            let mut o = Map::new();
            o.insert("metadata".into(), object_meta(c.metadata));
            put(&mut o, "data", c.data);
            put(&mut o, "binaryData", bytes_map(c.binary_data));
            put(&mut o, "immutable", c.immutable);
            Value::Object(o)
        }
        "Pod" => {
            let p: core::Pod = decode(&raw)?;
            json!({"metadata": object_meta(p.metadata), "spec": pod_spec(p.spec)})
        }
        "Deployment" => {
            let d: apps::v1::Deployment = decode(&raw)?;
            let spec = d.spec.unwrap_or_default();
            let template = spec.template.unwrap_or_default();
            let mut s = Map::new();
            put(&mut s, "replicas", spec.replicas);
            if let Some(sel) = spec.selector {
                s.insert("selector".into(), json!({"matchLabels": sel.match_labels}));
            }
            s.insert("template".into(), json!({"metadata": object_meta(template.metadata), "spec": pod_spec(template.spec)}));
            json!({"metadata": object_meta(d.metadata), "spec": s})
        }
        "Role" => {
            let r: rbac::Role = decode(&raw)?;
            json!({"metadata": object_meta(r.metadata), "rules": policy_rules(r.rules)})
        }
        "ClusterRole" => {
            let r: rbac::ClusterRole = decode(&raw)?;
            json!({"metadata": object_meta(r.metadata), "rules": policy_rules(r.rules)})
        }
        "RoleBinding" => {
            let b: rbac::RoleBinding = decode(&raw)?;
            json!({"metadata": object_meta(b.metadata), "subjects": subjects(b.subjects), "roleRef": role_ref(b.role_ref)})
        }
        "ClusterRoleBinding" => {
            let b: rbac::ClusterRoleBinding = decode(&raw)?;
            json!({"metadata": object_meta(b.metadata), "subjects": subjects(b.subjects), "roleRef": role_ref(b.role_ref)})
        }
        "TokenRequest" => {
            let t: authn::v1::TokenRequest = decode(&raw)?;
            let spec = t.spec.unwrap_or_default();
            let mut s = Map::new();
            s.insert("audiences".into(), json!(spec.audiences));
            put(&mut s, "expirationSeconds", spec.expiration_seconds);
            json!({"metadata": object_meta(t.metadata), "spec": s})
        }
        "TokenReview" => {
            let t: authn::v1::TokenReview = decode(&raw)?;
            let spec = t.spec.unwrap_or_default();
            json!({"metadata": object_meta(t.metadata), "spec": {"token": spec.token.unwrap_or_default(), "audiences": spec.audiences}})
        }
        "SelfSubjectReview" => {
            let t: authn::v1::SelfSubjectReview = decode(&raw)?;
            json!({"metadata": object_meta(t.metadata)})
        }
        "SelfSubjectAccessReview" => {
            let r: authz::v1::SelfSubjectAccessReview = decode(&raw)?;
            let spec = r.spec.unwrap_or_default();
            json!({"metadata": object_meta(r.metadata), "spec": resource_attributes(spec.resource_attributes, spec.non_resource_attributes)})
        }
        "SelfSubjectRulesReview" => {
            let r: authz::v1::SelfSubjectRulesReview = decode(&raw)?;
            json!({"metadata": object_meta(r.metadata), "spec": {"namespace": r.spec.unwrap_or_default().namespace.unwrap_or_default()}})
        }
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let r: authz::v1::SubjectAccessReview = decode(&raw)?;
            let spec = r.spec.unwrap_or_default();
            let mut s = resource_attributes(spec.resource_attributes, spec.non_resource_attributes);
            put(&mut s, "user", spec.user);
            put(&mut s, "groups", spec.groups);
            put(&mut s, "uid", spec.uid);
            let extra: BTreeMap<String, Vec<String>> =
                spec.extra.into_iter().map(|(k, v)| (k, v.items)).collect();
            put(&mut s, "extra", extra);
            json!({"metadata": object_meta(r.metadata), "spec": s})
        }
        "DeleteOptions" => {
            let d: meta::DeleteOptions = decode(&raw)?;
            let mut o = Map::new();
            put(&mut o, "propagationPolicy", d.propagation_policy);
            put(&mut o, "gracePeriodSeconds", d.grace_period_seconds);
            Value::Object(o)
        }
        other => {
            return Err(bad(format!(
                "kind `{other}` is not supported in protobuf; send JSON"
            )));
        }
    };
    out["apiVersion"] = json!(api_version);
    out["kind"] = json!(kind);
    Ok(out)
}
