//! Turns a method, path and query into the attributes the authorizer sees, as the API server's
//! `RequestInfoFactory` does (verb mapping, namespace, resource, subresource, name).

use crate::rbac::Attributes;

/// A request as the API server understands it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// Authorization attributes.
    pub attrs: Attributes,
    /// API version (resource requests).
    pub api_version: String,
}

/// Parses a request. `watch` is true when `?watch=true|1`.
pub fn parse(method: &str, path: &str, watch: bool) -> RequestInfo {
    let mut info = RequestInfo::default();
    info.attrs.path = path.to_owned();
    info.attrs.verb = method.to_ascii_lowercase();
    let trimmed = path.trim_matches('/');
    let parts: Vec<&str> = if trimmed.is_empty() {
        vec![]
    } else {
        trimmed.split('/').collect()
    };
    let rest: &[&str] = match parts.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => {
            info.api_version = (*version).to_owned();
            rest
        }
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            info.attrs.api_group = (*group).to_owned();
            info.api_version = (*version).to_owned();
            rest
        }
        _ => {
            info.attrs.api_group.clear();
            return info;
        }
    };
    info.attrs.resource_request = true;
    let mut rest = rest;
    let mut watch = watch;
    if rest.first() == Some(&"watch") {
        watch = true;
        rest = &rest[1..];
    }
    if rest.first() == Some(&"namespaces")
        && let Some(ns) = rest.get(1)
    {
        info.attrs.namespace = (*ns).to_owned();
        if rest.len() > 2 && !["status", "finalize"].contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    info.attrs.resource = rest.first().map(|s| (*s).to_owned()).unwrap_or_default();
    info.attrs.name = rest.get(1).map(|s| (*s).to_owned()).unwrap_or_default();
    info.attrs.subresource = rest.get(2).map(|s| (*s).to_owned()).unwrap_or_default();
    info.attrs.verb = match method {
        "POST" => "create",
        "GET" | "HEAD" if watch => "watch",
        "GET" | "HEAD" if info.attrs.name.is_empty() => "list",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if info.attrs.name.is_empty() => "deletecollection",
        "DELETE" => "delete",
        other => {
            return RequestInfo {
                attrs: Attributes {
                    verb: other.to_ascii_lowercase(),
                    ..info.attrs
                },
                ..info
            };
        }
    }
    .to_owned();
    info
}
