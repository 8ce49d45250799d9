//! Object validation (names, required fields, RBAC rules and bindings) and the defaults the real
//! API server fills in.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::rbac::validate as rbac_validate;
use crate::resources::{RBAC_GROUP, ResourceType};
use crate::status::{ApiError, FieldError};
use crate::store::{meta_mut, meta_str};

const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn name_errors(rt: &ResourceType, name: &str) -> Vec<FieldError> {
    if rt.group == RBAC_GROUP {
        // RBAC objects only need to be valid path segments.
        if name == "." || name == ".." || name.contains('/') || name.contains('%') {
            return vec![FieldError::invalid(
                "metadata.name",
                &format!("{name:?}"),
                "may not contain '/' or '%' or be '.' or '..'",
            )];
        }
        return vec![];
    }
    if rt.plural == "namespaces" {
        if !is_label(name) {
            return vec![FieldError::invalid(
                "metadata.name",
                &format!("{name:?}"),
                DNS1123_LABEL,
            )];
        }
        return vec![];
    }
    if name.len() > 253 || !name.split('.').all(is_label) {
        return vec![FieldError::invalid(
            "metadata.name",
            &format!("{name:?}"),
            DNS1123_SUBDOMAIN,
        )];
    }
    vec![]
}

/// Field errors of an object about to be stored.
pub fn validate(rt: &ResourceType, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = meta_str(obj, "name");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        errs.extend(name_errors(rt, name));
    }
    match rt.plural {
        "roles" => errs.extend(rbac_validate::rules(obj, true)),
        "clusterroles" => errs.extend(rbac_validate::rules(obj, false)),
        "rolebindings" => errs.extend(rbac_validate::binding(obj, true)),
        "clusterrolebindings" => errs.extend(rbac_validate::binding(obj, false)),
        "deployments"
            if obj
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty) =>
        {
            errs.push(FieldError::required("spec.template.spec.containers", ""));
        }
        "pods"
            if obj
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty) =>
        {
            errs.push(FieldError::required("spec.containers", ""));
        }
        _ => {}
    }
    errs
}

/// The 422 for these field errors.
pub fn invalid(rt: &ResourceType, name: &str, errs: &[FieldError]) -> ApiError {
    ApiError::invalid(rt.kind, rt.group, name, errs)
}

/// Defaults the real API server fills in.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    match rt.plural {
        "namespaces" => {
            let name = meta_str(obj, "name").to_owned();
            if !name.is_empty() {
                let meta = meta_mut(obj);
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                labels["kubernetes.io/metadata.name"] = json!(name);
            }
            if obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
            obj["status"] = json!({"phase": "Active"});
        }
        "secrets" => {
            if obj
                .get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                obj["type"] = json!("Opaque");
            }
            if let Some(Value::Object(string_data)) =
                obj.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                if !obj.get("data").is_some_and(Value::is_object) {
                    obj["data"] = json!({});
                }
                for (k, v) in string_data {
                    obj["data"][k] = json!(STANDARD.encode(v.as_str().unwrap_or("")));
                }
            }
        }
        "pods" if obj.get("status").is_none() => {
            obj["status"] = json!({"phase": "Pending"});
        }
        "deployments" => {
            if obj.pointer("/spec/replicas").is_none()
                && let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.insert("replicas".into(), json!(1));
            }
        }
        _ => {}
    }
}
