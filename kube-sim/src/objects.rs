//! CRUD on stored resources: get, list, create, update, patch, delete, deletecollection, with
//! defaults, validation and the RBAC escalation check; reviews are handed to [`crate::reviews`].

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::{Body, State};
use crate::auth::UserInfo;
use crate::patch::{json_patch, merge_patch};
use crate::rbac::{self, Attributes, escalation, validate as rbac_validate};
use crate::request_info::RequestInfo;
use crate::resources::{RBAC_GROUP, ResourceType, Storage, lookup};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, Result};
use crate::store::{Store, meta_mut, meta_str};
use crate::validation::{apply_defaults, invalid, validate};
use crate::{proto, reviews};

/// Decodes a JSON or protobuf body into an object.
pub fn decode_body(body: &Body) -> Result<Value> {
    let v = match body.content_type.as_str() {
        "application/json" | "" => serde_json::from_slice::<Value>(&body.bytes).map_err(|e| {
            ApiError::bad_request(format!("unable to decode the request body as json: {e}"))
        })?,
        proto::CONTENT_TYPE => proto::to_json(&body.bytes)?,
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a json object",
        ));
    }
    Ok(v)
}

fn check_kind(rt: &ResourceType, obj: &Value) -> Result<()> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if !kind.is_empty() && kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind of the provided object (`{kind}`) does not match the resource (`{}`)",
            rt.kind
        )));
    }
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if !api_version.is_empty() && api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    Ok(())
}

/// Serves a resource request that RBAC has already allowed.
pub fn serve(
    state: &State,
    user: &UserInfo,
    info: &RequestInfo,
    query: &BTreeMap<String, String>,
    body: &Body,
) -> Result<(u16, Value)> {
    let a = &info.attrs;
    let plural = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let rt = lookup(&a.api_group, &info.api_version, &plural).ok_or_else(ApiError::no_route)?;
    // A cluster-scoped resource is never under /namespaces/<ns>/ (namespaces themselves excepted).
    if !rt.namespaced && !a.namespace.is_empty() && rt.plural != "namespaces" {
        return Err(ApiError::no_route());
    }
    if rt.namespaced && a.namespace.is_empty() && !(a.verb == "list" || a.verb == "watch") {
        return Err(ApiError::no_route());
    }
    let namespace = if rt.namespaced {
        a.namespace.as_str()
    } else {
        ""
    };
    if rt.storage == Storage::Review {
        if a.verb != "create" {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource".to_string(),
            ));
        }
        let obj = decode_body(body)?;
        return reviews::serve(state, user, rt, a, obj);
    }
    let dry_run = query.get("dryRun").is_some_and(|v| v == "All");
    let mut guard = state.store();
    let mut scratch;
    let store: &mut Store = if dry_run {
        scratch = guard.clone();
        &mut scratch
    } else {
        &mut guard
    };
    let result = dispatch(store, user, rt, a, namespace, query, body);
    if !dry_run {
        let changes = guard.take_changes();
        drop(guard);
        state.publish(changes);
    }
    result
}

/// One verb on a stored resource type.
fn dispatch(
    store: &mut Store,
    user: &UserInfo,
    rt: &'static ResourceType,
    a: &Attributes,
    namespace: &str,
    query: &BTreeMap<String, String>,
    body: &Body,
) -> Result<(u16, Value)> {
    match a.verb.as_str() {
        "get" => store
            .get(rt, namespace, &a.name)
            .cloned()
            .map(|o| (200, o))
            .ok_or_else(|| ApiError::not_found(rt, &a.name)),
        "list" => {
            let (labels, fields) = selectors(query)?;
            Ok((
                200,
                list_of(
                    rt,
                    store.list(rt, namespace, &labels, &fields),
                    &store.resource_version(),
                ),
            ))
        }
        "watch" => Err(ApiError::method_not_allowed(
            "watch is not supported by kube-sim; list instead",
        )),
        "create" => {
            let obj = decode_body(body)?;
            create(store, user, rt, a, obj).map(|o| (201, o))
        }
        "update" => {
            let obj = decode_body(body)?;
            update(store, user, rt, a, obj).map(|o| (200, o))
        }
        "patch" => patch(store, user, rt, a, body),
        "delete" => {
            if rt.plural == "namespaces"
                && ["default", "kube-system", "kube-public"].contains(&a.name.as_str())
            {
                let why = "this namespace may not be deleted";
                return Err(ApiError::forbidden(
                    &rt.group_resource(),
                    "",
                    rt.plural,
                    &a.name,
                    why,
                ));
            }
            let mut obj = store.delete(rt, namespace, &a.name)?;
            if rt.plural == "namespaces" {
                obj["status"] = json!({"phase": "Terminating"});
            }
            Ok((200, obj))
        }
        "deletecollection" => {
            let (labels, fields) = selectors(query)?;
            let victims = store.list(rt, namespace, &labels, &fields);
            for v in &victims {
                store.delete(rt, meta_str(v, "namespace"), meta_str(v, "name"))?;
            }
            Ok((200, list_of(rt, victims, &store.resource_version())))
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn selectors(query: &BTreeMap<String, String>) -> Result<(LabelSelector, FieldSelector)> {
    let labels =
        LabelSelector::parse(query.get("labelSelector").map(String::as_str).unwrap_or(""))?;
    let fields =
        FieldSelector::parse(query.get("fieldSelector").map(String::as_str).unwrap_or(""))?;
    Ok((labels, fields))
}

fn list_of(rt: &ResourceType, items: Vec<Value>, rv: &str) -> Value {
    json!({"kind": format!("{}List", rt.kind), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": rv}, "items": items})
}

fn attrs_for(verb: &str, resource: &str, namespace: &str, name: &str) -> Attributes {
    Attributes {
        verb: verb.into(),
        resource_request: true,
        namespace: namespace.into(),
        api_group: RBAC_GROUP.into(),
        resource: resource.into(),
        name: name.into(),
        ..Default::default()
    }
}

/// The escalation check for writes of Roles, ClusterRoles and their bindings.
fn check_escalation(
    store: &Store,
    user: &UserInfo,
    rt: &ResourceType,
    a: &Attributes,
    obj: &Value,
) -> Result<()> {
    if user.is_master() || rt.group != RBAC_GROUP {
        return Ok(());
    }
    let ns = a.namespace.as_str();
    let name = meta_str(obj, "name");
    let wanted = match rt.plural {
        "roles" | "clusterroles" => {
            if rbac::authorize(store, user, &attrs_for("escalate", rt.plural, ns, &a.name)).allowed
            {
                return Ok(());
            }
            serde_json::from_value(obj.get("rules").cloned().unwrap_or(json!([])))
                .unwrap_or_default()
        }
        "rolebindings" | "clusterrolebindings" => {
            let rr = rbac::role_ref_of(obj);
            let role_resource = if rr.kind == "Role" {
                "roles"
            } else {
                "clusterroles"
            };
            if rbac::authorize(store, user, &attrs_for("bind", role_resource, ns, &rr.name)).allowed
            {
                return Ok(());
            }
            match rbac::role_ref_rules(store, &rr, ns) {
                Some(rules) => rules,
                None => {
                    let role_rt =
                        lookup(RBAC_GROUP, "v1", role_resource).ok_or_else(ApiError::no_route)?;
                    return Err(ApiError::not_found(role_rt, &rr.name));
                }
            }
        }
        _ => return Ok(()),
    };
    let owned = rbac::rules_for(store, user, ns);
    match escalation::confirm_no_escalation(&user.username, &user.groups, &owned, &wanted) {
        None => Ok(()),
        Some(why) => Err(ApiError::forbidden(
            &rt.group_resource(),
            rt.group,
            rt.plural,
            name,
            &why,
        )),
    }
}

fn prepare(rt: &ResourceType, a: &Attributes, obj: &mut Value) -> Result<()> {
    check_kind(rt, obj)?;
    let body_ns = meta_str(obj, "namespace");
    if rt.namespaced && !body_ns.is_empty() && body_ns != a.namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if rt.namespaced {
        meta_mut(obj).insert("namespace".into(), json!(a.namespace));
    }
    Ok(())
}

fn create(
    store: &mut Store,
    user: &UserInfo,
    rt: &ResourceType,
    a: &Attributes,
    mut obj: Value,
) -> Result<Value> {
    prepare(rt, a, &mut obj)?;
    if rt.namespaced {
        let ns_rt = lookup("", "v1", "namespaces").ok_or_else(ApiError::no_route)?;
        if store.get(ns_rt, "", &a.namespace).is_none() {
            return Err(ApiError::not_found(ns_rt, &a.namespace));
        }
    }
    let generate = meta_str(&obj, "generateName").to_owned();
    let mut probe = obj.clone();
    if meta_str(&probe, "name").is_empty() && !generate.is_empty() {
        meta_mut(&mut probe).insert("name".into(), json!(format!("{generate}x")));
    }
    let errs = validate(rt, &probe);
    if !errs.is_empty() {
        return Err(invalid(rt, meta_str(&obj, "name"), &errs));
    }
    check_escalation(store, user, rt, a, &probe)?;
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
    ] {
        meta_mut(&mut obj).remove(field);
    }
    apply_defaults(rt, &mut obj);
    let created = store.create(rt, &a.namespace, obj)?;
    if rt.plural == "namespaces" {
        let sa_rt = lookup("", "v1", "serviceaccounts").ok_or_else(ApiError::no_route)?;
        let ns = meta_str(&created, "name").to_owned();
        store.create(sa_rt, &ns, json!({"metadata": {"name": "default"}}))?;
    }
    Ok(created)
}

fn update(
    store: &mut Store,
    user: &UserInfo,
    rt: &ResourceType,
    a: &Attributes,
    mut obj: Value,
) -> Result<Value> {
    prepare(rt, a, &mut obj)?;
    let body_name = meta_str(&obj, "name");
    if !body_name.is_empty() && body_name != a.name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({})",
            a.name
        )));
    }
    meta_mut(&mut obj).insert("name".into(), json!(a.name));
    let old = store
        .get(rt, &a.namespace, &a.name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(rt, &a.name))?;
    let mut errs = validate(rt, &obj);
    if matches!(rt.plural, "rolebindings" | "clusterrolebindings")
        && let Some(e) = rbac_validate::role_ref_unchanged(&old, &obj)
    {
        errs.push(e);
    }
    if !errs.is_empty() {
        return Err(invalid(rt, &a.name, &errs));
    }
    check_escalation(store, user, rt, a, &obj)?;
    apply_defaults(rt, &mut obj);
    store.update(rt, &a.namespace, &a.name, obj)
}

fn patch(
    store: &mut Store,
    user: &UserInfo,
    rt: &ResourceType,
    a: &Attributes,
    body: &Body,
) -> Result<(u16, Value)> {
    let parse = || {
        serde_json::from_slice::<Value>(&body.bytes)
            .map_err(|e| ApiError::bad_request(format!("unable to decode the patch as json: {e}")))
    };
    let existing = store.get(rt, &a.namespace, &a.name).cloned();
    let mut obj = match (body.content_type.as_str(), existing) {
        ("application/apply-patch+yaml", None) => {
            let mut obj = parse()?;
            meta_mut(&mut obj).insert("name".into(), json!(a.name));
            return create(store, user, rt, a, obj).map(|o| (201, o));
        }
        (_, None) => return Err(ApiError::not_found(rt, &a.name)),
        (
            ct @ ("application/merge-patch+json"
            | "application/strategic-merge-patch+json"
            | "application/apply-patch+yaml"),
            Some(mut obj),
        ) => {
            let p = parse()?;
            if ct != "application/apply-patch+yaml"
                || p.pointer("/metadata/resourceVersion").is_some()
            {
                merge_patch(&mut obj, &p);
            } else {
                meta_mut(&mut obj).remove("resourceVersion");
                merge_patch(&mut obj, &p);
            }
            obj
        }
        ("application/json-patch+json", Some(mut obj)) => {
            json_patch(&mut obj, &parse()?)?;
            obj
        }
        (other, Some(_)) => return Err(ApiError::unsupported_media_type(other)),
    };
    if meta_str(&obj, "resourceVersion").is_empty() {
        meta_mut(&mut obj).remove("resourceVersion");
    }
    update(store, user, rt, a, obj).map(|o| (200, o))
}
