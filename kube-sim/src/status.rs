//! Kubernetes `Status` error bodies with the reasons and messages of the real API server.

use serde_json::{Value, json};

use crate::resources::ResourceType;

/// An API error answered to the client as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Machine-readable reason (`NotFound`, `Forbidden`, ...).
    pub reason: String,
    /// Human-readable message, worded like the real API server.
    pub message: String,
    /// The `details` object (name, group, kind, causes), if any.
    pub details: Option<Value>,
}

/// Result with [`ApiError`] as the default error.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// A field error as `k8s.io/apimachinery/pkg/util/validation/field` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// The field path, e.g. `rules[0].verbs`.
    pub field: String,
    /// The cause type reported in `details.causes[].reason` (`FieldValueRequired`, ...).
    pub cause: &'static str,
    /// The full text, e.g. `rules[0].verbs: Required value: verbs must contain at least one value`.
    pub text: String,
}

impl FieldError {
    /// `field: Required value[: detail]`.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        let field = field.into();
        let text = if detail.is_empty() {
            format!("{field}: Required value")
        } else {
            format!("{field}: Required value: {detail}")
        };
        Self {
            field,
            cause: "FieldValueRequired",
            text,
        }
    }

    /// `field: Invalid value: <value>: detail`; `value` is already formatted (strings quoted).
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        let field = field.into();
        let text = format!("{field}: Invalid value: {value}: {detail}");
        Self {
            field,
            cause: "FieldValueInvalid",
            text,
        }
    }

    /// `field: Unsupported value: "v": supported values: "a", "b"`.
    pub fn unsupported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let field = field.into();
        let list = supported
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let text = format!("{field}: Unsupported value: {value:?}: supported values: {list}");
        Self {
            field,
            cause: "FieldValueNotSupported",
            text,
        }
    }

    /// `field: Forbidden: detail`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        let field = field.into();
        let text = format!("{field}: Forbidden: {detail}");
        Self {
            field,
            cause: "FieldValueForbidden",
            text,
        }
    }
}

impl ApiError {
    fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_owned(),
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, name: &str, group: &str, kind: &str) -> Self {
        let mut d = serde_json::Map::new();
        if !name.is_empty() {
            d.insert("name".into(), json!(name));
        }
        if !group.is_empty() {
            d.insert("group".into(), json!(group));
        }
        if !kind.is_empty() {
            d.insert("kind".into(), json!(kind));
        }
        self.details = Some(Value::Object(d));
        self
    }

    /// 401: the credentials are missing, invalid, expired or revoked.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// 403 for a resource (`pods "x" is forbidden: ...`) or a path (`forbidden: ...`).
    pub fn forbidden(
        group_resource: &str,
        group: &str,
        resource: &str,
        name: &str,
        why: &str,
    ) -> Self {
        let message = match (group_resource.is_empty(), name.is_empty()) {
            (true, _) => format!("forbidden: {why}"),
            (false, true) => format!("{group_resource} is forbidden: {why}"),
            (false, false) => format!("{group_resource} {name:?} is forbidden: {why}"),
        };
        Self::new(403, "Forbidden", message).with_details(name, group, resource)
    }

    /// 404 for a named object.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} {name:?} not found", rt.group_resource()),
        )
        .with_details(name, rt.group, rt.plural)
    }

    /// 404 for a path the server does not serve.
    pub fn no_route() -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        );
        e.details = Some(json!({}));
        e
    }

    /// 409 AlreadyExists.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} {name:?} already exists", rt.group_resource()),
        )
        .with_details(name, rt.group, rt.plural)
    }

    /// 409 Conflict on a stale `resourceVersion`.
    pub fn conflict(rt: &ResourceType, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
                rt.group_resource()
            ),
        )
        .with_details(name, rt.group, rt.plural)
    }

    /// 422 Invalid with field errors, worded `Kind.group "name" is invalid: ...`.
    pub fn invalid(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Self {
        let qualified = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let joined = match errors {
            [one] => one.text.clone(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(|e| e.text.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut e = Self::new(
            422,
            "Invalid",
            format!("{qualified} {name:?} is invalid: {joined}"),
        )
        .with_details(name, group, kind);
        if let Some(Value::Object(d)) = e.details.as_mut() {
            let causes = errors
                .iter()
                .map(|fe| {
                    let msg = fe
                        .text
                        .strip_prefix(&format!("{}: ", fe.field))
                        .unwrap_or(&fe.text);
                    json!({"reason": fe.cause, "message": msg, "field": fe.field})
                })
                .collect::<Vec<_>>();
            d.insert("causes".into(), Value::Array(causes));
        }
        e
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// 415 UnsupportedMediaType.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type:?}) - accepted media types include: application/json, application/vnd.kubernetes.protobuf, application/merge-patch+json, application/strategic-merge-patch+json, application/json-patch+json"
            ),
        )
    }

    /// 500 InternalError.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// An arbitrary status, as injected by a fault rule.
    pub fn custom(code: u16, reason: &str, message: &str) -> Self {
        Self::new(code, reason, message)
    }

    /// The `Status` object sent to the client.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}
