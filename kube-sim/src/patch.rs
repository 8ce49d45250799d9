//! JSON merge patch (RFC 7386; strategic merge and apply are treated as merge for these kinds)
//! and JSON patch (RFC 6902: add, remove, replace, test).

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
