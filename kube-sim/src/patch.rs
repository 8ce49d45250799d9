//! JSON merge patch (RFC 7386), strategic merge patch for the lists of the served kinds that have a
//! merge key (containers by name, ports by containerPort, ...), and JSON patch (RFC 6902: add,
//! remove, replace, test).

use serde_json::{Value, json};

use crate::status::{ApiError, Result};

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn pointer_parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String)> {
    let (parent, last) = path
        .rsplit_once('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid json patch path `{path}`")))?;
    let last = last.replace("~1", "/").replace("~0", "~");
    let target = doc
        .pointer_mut(parent)
        .ok_or_else(|| ApiError::bad_request(format!("json patch path `{path}` does not exist")))?;
    Ok((target, last))
}

/// RFC 6902 JSON patch (add, remove, replace, test).
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<()> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a json patch must be an array of operations"))?;
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op.get("path").and_then(Value::as_str).unwrap_or("");
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        match kind {
            "test" => {
                if doc.pointer(path) != Some(&value) {
                    return Err(ApiError::custom(
                        422,
                        "Invalid",
                        &format!("json patch test operation failed at `{path}`"),
                    ));
                }
            }
            "replace" => {
                let slot = doc.pointer_mut(path).ok_or_else(|| {
                    ApiError::bad_request(format!("json patch path `{path}` does not exist"))
                })?;
                *slot = value;
            }
            "add" | "remove" => {
                let (parent, key) = pointer_parent(doc, path)?;
                match parent {
                    Value::Object(m) if kind == "add" => {
                        m.insert(key, value);
                    }
                    Value::Object(m) => {
                        m.remove(&key).ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "json patch path `{path}` does not exist"
                            ))
                        })?;
                    }
                    Value::Array(arr) => {
                        let idx = if key == "-" {
                            arr.len()
                        } else {
                            key.parse().map_err(|_| {
                                ApiError::bad_request(format!("invalid array index in `{path}`"))
                            })?
                        };
                        if kind == "add" && idx <= arr.len() {
                            arr.insert(idx, value);
                        } else if kind == "remove" && idx < arr.len() {
                            arr.remove(idx);
                        } else {
                            return Err(ApiError::bad_request(format!(
                                "array index out of range in `{path}`"
                            )));
                        }
                    }
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "json patch path `{path}` does not exist"
                        )));
                    }
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unsupported json patch operation `{other}`"
                )));
            }
        }
    }
    Ok(())
}

/// The merge key of a list field in the served kinds (`patchMergeKey` in the Kubernetes types).
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "hostAliases"
        | "readinessGates"
        | "conditions" => Some(match field {
            "hostAliases" => "ip",
            "readinessGates" => "conditionType",
            "conditions" => "type",
            _ => "name",
        }),
        "ports" => Some("containerPort"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        _ => None,
    }
}

/// Strategic merge patch: a merge patch whose keyed lists merge element by element (an element
/// with `"$patch": "delete"` removes its match); `$setElementOrder/…` and `$retainKeys` directives
/// are dropped, and `"$patch": "replace"` replaces the map it is in.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = patch.clone();
        if let Value::Object(m) = &mut replacement {
            m.remove("$patch");
        }
        *target = replacement;
        return;
    }
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        match (v, merge_key(k)) {
            (Value::Null, _) => {
                t.remove(k);
            }
            (Value::Array(items), Some(key)) => {
                let slot = t
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                if let Value::Array(existing) = slot {
                    merge_keyed_list(existing, items, key);
                }
            }
            (Value::Object(_), _) => {
                strategic_merge_patch(t.entry(k.clone()).or_insert(Value::Null), v)
            }
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_keyed_list(existing: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let id = item.get(key);
        let pos = id.and_then(|id| existing.iter().position(|e| e.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge_patch(&mut existing[i], item),
            (None, false) => existing.push(item.clone()),
        }
    }
}
