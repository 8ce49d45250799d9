//! Validation of Roles, ClusterRoles and bindings, with the real field errors.

use serde_json::Value;

use super::{PolicyRule, RoleRef, Subject, role_ref_of};
use crate::resources::RBAC_GROUP;
use crate::status::FieldError;

fn go_string_slice(v: &[String]) -> String {
    format!(
        "[]string{{{}}}",
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Errors in the `rules` of a Role (`namespaced`) or ClusterRole.
pub fn rules(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let raw = obj.get("rules").cloned().unwrap_or(Value::Array(vec![]));
    let parsed: Vec<PolicyRule> = match serde_json::from_value(raw) {
        Ok(r) => r,
        Err(e) => {
            return vec![FieldError::invalid(
                "rules",
                "\"\"",
                &format!("cannot be decoded: {e}"),
            )];
        }
    };
    for (i, r) in parsed.iter().enumerate() {
        let p = format!("rules[{i}]");
        if r.verbs.is_empty() {
            errs.push(FieldError::required(
                format!("{p}.verbs"),
                "verbs must contain at least one value",
            ));
        }
        if !r.non_resource_urls.is_empty() {
            let v = go_string_slice(&r.non_resource_urls);
            if namespaced {
                errs.push(FieldError::invalid(
                    format!("{p}.nonResourceURLs"),
                    &v,
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !r.api_groups.is_empty() || !r.resources.is_empty() || !r.resource_names.is_empty() {
                errs.push(FieldError::invalid(
                    format!("{p}.nonResourceURLs"),
                    &v,
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if r.api_groups.is_empty() {
            errs.push(FieldError::required(
                format!("{p}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if r.resources.is_empty() {
            errs.push(FieldError::required(
                format!("{p}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    errs
}

/// Errors in the `roleRef` and `subjects` of a RoleBinding (`namespaced`) or ClusterRoleBinding.
pub fn binding(obj: &Value, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let rr = role_ref_of(obj);
    if rr.api_group != RBAC_GROUP {
        errs.push(FieldError::unsupported(
            "roleRef.apiGroup",
            &rr.api_group,
            &[RBAC_GROUP],
        ));
    }
    if namespaced {
        if rr.kind != "Role" && rr.kind != "ClusterRole" {
            errs.push(FieldError::unsupported(
                "roleRef.kind",
                &rr.kind,
                &["Role", "ClusterRole"],
            ));
        }
    } else if rr.kind != "ClusterRole" {
        errs.push(FieldError::unsupported(
            "roleRef.kind",
            &rr.kind,
            &["ClusterRole"],
        ));
    }
    if rr.name.is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    }
    let subjects: Vec<Subject> = match obj
        .get("subjects")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
    {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => {
            return vec![FieldError::invalid(
                "subjects",
                "\"\"",
                &format!("cannot be decoded: {e}"),
            )];
        }
    };
    for (i, s) in subjects.iter().enumerate() {
        let p = format!("subjects[{i}]");
        if s.name.is_empty() {
            errs.push(FieldError::required(format!("{p}.name"), ""));
        }
        match s.kind.as_str() {
            "ServiceAccount" => {
                if !s.api_group.is_empty() {
                    errs.push(FieldError::unsupported(
                        format!("{p}.apiGroup"),
                        &s.api_group,
                        &[""],
                    ));
                }
                if !namespaced && s.namespace.is_empty() {
                    errs.push(FieldError::required(format!("{p}.namespace"), ""));
                }
            }
            "User" | "Group" => {
                if s.api_group != RBAC_GROUP {
                    errs.push(FieldError::unsupported(
                        format!("{p}.apiGroup"),
                        &s.api_group,
                        &[RBAC_GROUP],
                    ));
                }
            }
            other => errs.push(FieldError::unsupported(
                format!("{p}.kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
    errs
}

/// The error when an update changes `roleRef`, which is immutable.
pub fn role_ref_unchanged(old: &Value, new: &Value) -> Option<FieldError> {
    let (a, b) = (role_ref_of(old), role_ref_of(new));
    (a != b).then(|| FieldError::invalid("roleRef", &go_role_ref(&b), "cannot change roleRef"))
}

fn go_role_ref(r: &RoleRef) -> String {
    format!(
        "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
        r.api_group, r.kind, r.name
    )
}
