//! [`ApiError`]: every failure of the REST API as a status and a JSON body
//! `{"error":{"code":"...","message":"..."}}`. Client errors say what was wrong; internal
//! errors are logged with their detail and answered with a generic 500.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::ModuleVerdict;
use crate::{store, workflow};

/// A failed API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or an invalid bearer token.
    #[error("{message}")]
    Unauthenticated {
        /// A stable code, e.g. `expired`.
        code: &'static str,
        /// What was wrong with the token.
        message: String,
    },
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The policy chain denied the request (it is stored as `denied`).
    #[error("{reason}")]
    Denied {
        /// The stored request.
        request_id: String,
        /// The policy's reason.
        reason: String,
        /// The chain's modules (the names and digests of those that decided are shown).
        modules: Vec<ModuleVerdict>,
    },
    /// No such resource, or not one the caller may see.
    #[error("{0}")]
    NotFound(String),
    /// The method is not allowed on this path.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body or query is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than the configured limit.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The body is not JSON.
    #[error("request body must be JSON (`content-type: application/json`)")]
    UnsupportedMediaType,
    /// The resource is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// The caller sent too many requests.
    #[error("too many requests: at most {per_minute} per minute")]
    RateLimited {
        /// The limit.
        per_minute: u32,
        /// Seconds until the caller may send again (`Retry-After`).
        retry_after: u64,
    },
    /// Too many calls came from the caller's address (counted before authentication).
    #[error("too many requests from this address; retry after {retry_after} s")]
    SourceRateLimited {
        /// Seconds until the address may send again (`Retry-After`).
        retry_after: u64,
    },
    /// Provisioning failed; the request is stored as `failed` and was rolled back.
    #[error("{message}")]
    ProvisioningFailed {
        /// The stored request.
        request_id: String,
        /// The cause.
        message: String,
    },
    /// A cluster could not do what was asked (details in the logs).
    #[error("the cluster could not complete the operation")]
    BadGateway,
    /// A dependency is not ready.
    #[error("{0}")]
    Unavailable(String),
    /// The database could not be reached in time; nothing was changed (details in the logs).
    #[error("the database is unavailable; nothing was changed, retry later")]
    StoreUnavailable,
    /// Anything else (details in the logs only).
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::Denied { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } | Self::SourceRateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::ProvisioningFailed { .. } | Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) | Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated { code, .. } => code,
            Self::Forbidden(_) => "forbidden",
            Self::Denied { .. } => "denied",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::BadRequest(_) => "bad_request",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Conflict(_) => "conflict",
            Self::RateLimited { .. } | Self::SourceRateLimited { .. } => "rate_limited",
            Self::ProvisioningFailed { .. } => "provisioning_failed",
            Self::BadGateway => "bad_gateway",
            Self::Unavailable(_) => "not_ready",
            Self::StoreUnavailable => "database_unavailable",
            Self::Internal => "internal",
        }
    }
}

/// `{"error": {...}}`, the body of every error answer.
#[derive(Serialize)]
struct Body<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    modules: Option<Vec<DecidedBy<'a>>>,
}

/// A module that decided a denied request: `{"module", "digest"}`.
#[derive(Serialize)]
struct DecidedBy<'a> {
    module: &'a str,
    digest: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (request_id, modules) = match &self {
            Self::Denied {
                request_id,
                modules,
                ..
            } => (
                Some(request_id.as_str()),
                Some(
                    modules
                        .iter()
                        .filter(|m| m.skipped_after.is_none())
                        .map(|m| DecidedBy {
                            module: &m.module,
                            digest: &m.digest,
                        })
                        .collect(),
                ),
            ),
            Self::ProvisioningFailed { request_id, .. } => (Some(request_id.as_str()), None),
            _ => (None, None),
        };
        let retry_after = match &self {
            Self::RateLimited { retry_after, .. } | Self::SourceRateLimited { retry_after } => {
                Some(*retry_after)
            }
            Self::StoreUnavailable => Some(1),
            _ => None,
        };
        let body = Body {
            error: ErrorBody {
                code: self.code(),
                message: self.to_string(),
                request_id,
                modules,
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<workflow::Error> for ApiError {
    fn from(error: workflow::Error) -> Self {
        match error {
            workflow::Error::Invalid(invalid) => Self::BadRequest(invalid.to_string()),
            workflow::Error::NotFound(id) => Self::NotFound(format!("request `{id}` not found")),
            workflow::Error::Conflict(message) => Self::Conflict(message),
            workflow::Error::Cluster { cluster, source } => {
                tracing::error!(%cluster, error = %source, "cluster operation failed");
                Self::BadGateway
            }
            workflow::Error::Store(error) => error.into(),
            workflow::Error::Interrupted(id) => {
                tracing::error!(request_id = %id, "the work on a request was interrupted");
                Self::Internal
            }
            workflow::Error::Evaluation(error) => {
                tracing::warn!(%error, "request refused: no policy decision could be made");
                Self::Unavailable(error.to_string())
            }
        }
    }
}

impl From<store::Error> for ApiError {
    /// An unreachable database is a 503 (the client may retry); any other store failure a
    /// 500, logged.
    fn from(error: store::Error) -> Self {
        if let store::Error::Unavailable(cause) = &error {
            tracing::warn!(%cause, "the database is unavailable");
            Self::StoreUnavailable
        } else {
            tracing::error!(%error, "store operation failed");
            Self::Internal
        }
    }
}

/// `Result` with [`ApiError`].
pub type Result<T, E = ApiError> = std::result::Result<T, E>;
