//! Create-only APIs: TokenRequest, TokenReview, SelfSubjectReview, SelfSubjectAccessReview,
//! SelfSubjectRulesReview, SubjectAccessReview and LocalSubjectAccessReview.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::State;
use crate::auth::UserInfo;
use crate::rbac::{self, Attributes};
use crate::resources::{ResourceType, lookup};
use crate::status::{ApiError, FieldError, Result};
use crate::store::{meta_str, now_rfc3339};

/// Shortest token lifetime the real API server accepts.
const MIN_EXPIRATION: i64 = 600;
/// Longest token lifetime the real API server accepts.
const MAX_EXPIRATION: i64 = 1 << 32;

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Answers one review request.
pub fn serve(
    state: &State,
    user: &UserInfo,
    rt: &ResourceType,
    a: &Attributes,
    mut obj: Value,
) -> Result<(u16, Value)> {
    let status = match rt.kind {
        "TokenRequest" => return token_request(state, a, obj),
        "TokenReview" => token_review(state, &obj),
        "SelfSubjectReview" => json!({"userInfo": user}),
        "SelfSubjectAccessReview" => access_review(state, user, rt, &obj, "")?,
        "SelfSubjectRulesReview" => rules_review(state, user, &obj),
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let spec = obj.get("spec").cloned().unwrap_or(json!({}));
            let subject = UserInfo {
                username: s(&spec, "/user").to_owned(),
                uid: s(&spec, "/uid").to_owned(),
                groups: strings(spec.get("groups")),
                extra: BTreeMap::new(),
            };
            if subject.username.is_empty() && subject.groups.is_empty() {
                return Err(ApiError::invalid(
                    rt.kind,
                    rt.group,
                    "",
                    &[FieldError::invalid(
                        "spec.user",
                        "\"\"",
                        "at least one of user or group must be specified",
                    )],
                ));
            }
            access_review(state, &subject, rt, &obj, &a.namespace)?
        }
        other => {
            return Err(ApiError::internal(format!(
                "no review handler for `{other}`"
            )));
        }
    };
    obj["apiVersion"] = json!(rt.api_version());
    obj["kind"] = json!(rt.kind);
    obj["status"] = status;
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]["creationTimestamp"] = Value::Null;
    Ok((201, obj))
}

fn token_request(state: &State, a: &Attributes, obj: Value) -> Result<(u16, Value)> {
    let rt_tr = lookup("", "v1", "serviceaccounts/token").ok_or_else(ApiError::no_route)?;
    let sa_rt = lookup("", "v1", "serviceaccounts").ok_or_else(ApiError::no_route)?;
    let (ns, name) = (a.namespace.as_str(), a.name.as_str());
    let uid = {
        let store = state.store();
        let sa = store
            .get(sa_rt, ns, name)
            .ok_or_else(|| ApiError::not_found(sa_rt, name))?;
        meta_str(sa, "uid").to_owned()
    };
    let mut errs = Vec::new();
    let body_name = meta_str(&obj, "name");
    if !body_name.is_empty() && body_name != name {
        errs.push(FieldError::invalid(
            "metadata.name",
            &format!("{body_name:?}"),
            "must match the service account name if specified",
        ));
    }
    let body_ns = meta_str(&obj, "namespace");
    if !body_ns.is_empty() && body_ns != ns {
        errs.push(FieldError::invalid(
            "metadata.namespace",
            &format!("{body_ns:?}"),
            "must match the service account namespace if specified",
        ));
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid(rt_tr.kind, rt_tr.group, name, &errs));
    }
    let expiration = obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    if expiration < MIN_EXPIRATION {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            &expiration.to_string(),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > MAX_EXPIRATION {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            &expiration.to_string(),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid(rt_tr.kind, rt_tr.group, name, &errs));
    }
    let mut audiences = strings(obj.pointer("/spec/audiences"));
    if audiences.is_empty() {
        audiences = state.signer.api_audiences.clone();
    }
    let (token, exp) = state
        .signer
        .mint(ns, name, &uid, audiences.clone(), expiration)
        .ok_or_else(|| ApiError::internal("cannot sign the token"))?;
    let expires = jiff::Timestamp::from_second(exp)
        .map(|t| t.to_string())
        .unwrap_or_default();
    Ok((
        201,
        json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": now_rfc3339()},
            "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": obj.pointer("/spec/boundObjectRef").cloned()},
            "status": {"token": token, "expirationTimestamp": expires},
        }),
    ))
}

fn token_review(state: &State, obj: &Value) -> Value {
    let token = s(obj, "/spec/token");
    let audiences = strings(obj.pointer("/spec/audiences"));
    match state.authenticate_token(token, &audiences) {
        Ok(user) => {
            let aud = if audiences.is_empty() {
                state.signer.api_audiences.clone()
            } else {
                audiences
            };
            json!({"authenticated": true, "user": user, "audiences": aud})
        }
        Err(why) => json!({"user": {}, "error": why}),
    }
}

fn access_review(
    state: &State,
    user: &UserInfo,
    rt: &ResourceType,
    obj: &Value,
    url_ns: &str,
) -> Result<Value> {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let attrs = match (
        spec.get("resourceAttributes"),
        spec.get("nonResourceAttributes"),
    ) {
        (Some(r), None) => {
            let ns = s(r, "/namespace");
            if !url_ns.is_empty() && ns != url_ns {
                return Err(ApiError::invalid(
                    rt.kind,
                    rt.group,
                    "",
                    &[FieldError::invalid(
                        "spec.resourceAttributes.namespace",
                        &format!("{ns:?}"),
                        "must match metadata.namespace",
                    )],
                ));
            }
            Attributes {
                verb: s(r, "/verb").into(),
                resource_request: true,
                namespace: ns.into(),
                api_group: s(r, "/group").into(),
                resource: s(r, "/resource").into(),
                subresource: s(r, "/subresource").into(),
                name: s(r, "/name").into(),
                path: String::new(),
            }
        }
        (None, Some(n)) => Attributes {
            verb: s(n, "/verb").into(),
            path: s(n, "/path").into(),
            ..Default::default()
        },
        _ => {
            return Err(ApiError::invalid(
                rt.kind,
                rt.group,
                "",
                &[FieldError::invalid(
                    "spec.resourceAttributes",
                    "\"null\"",
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                )],
            ));
        }
    };
    let d = rbac::authorize(&state.store(), user, &attrs);
    let mut status = json!({"allowed": d.allowed});
    if !d.reason.is_empty() {
        status["reason"] = json!(d.reason);
    }
    Ok(status)
}

fn rules_review(state: &State, user: &UserInfo, obj: &Value) -> Value {
    let ns = s(obj, "/spec/namespace");
    let rules = rbac::rules_for(&state.store(), user, ns);
    let (mut resource_rules, mut non_resource_rules) = (Vec::new(), Vec::new());
    for r in rules {
        if r.non_resource_urls.is_empty() {
            resource_rules.push(json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources, "resourceNames": r.resource_names}));
        } else {
            non_resource_rules
                .push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
    }
    json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": false})
}
