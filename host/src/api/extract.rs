//! Extractors: [`Caller`] (the verified bearer token) and [`ApiJson`] (a JSON body whose
//! every failure answers in the API's error shape).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use super::failures::AuthFailures;
use super::source::Source;
use crate::domain::Identity;

/// The caller, proven by a bearer JWT of a trusted issuer. A failure answers 401 and is
/// counted for the audit log (one `authentication_failed` event per source and minute, see
/// `failures.rs`); no handler (and no policy) runs.
#[derive(Debug, Clone)]
pub struct Caller(pub Identity);

impl Caller {
    /// Whether the caller is in one of `groups`.
    pub fn in_any(&self, groups: &[String]) -> bool {
        self.0.groups.iter().any(|g| groups.contains(g))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let token = header.and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        let verified = match token {
            None => Err(ApiError::Unauthenticated {
                code: "missing_token",
                message: "an `authorization: Bearer <token>` header is required".to_owned(),
            }),
            Some(token) => {
                state
                    .auth
                    .verify(token)
                    .await
                    .map_err(|error| ApiError::Unauthenticated {
                        code: error.code(),
                        message: error.to_string(),
                    })
            }
        };
        match verified {
            Ok(identity) => Ok(Self(identity)),
            Err(error) => {
                if let ApiError::Unauthenticated { code, .. } = &error {
                    let source = parts
                        .extensions
                        .get::<Source>()
                        .copied()
                        .unwrap_or(Source::UNKNOWN);
                    tracing::debug!(code, %source, path = %parts.uri.path(), "authentication failed");
                    if let Some(closed) = state.auth_failures.record(source, code) {
                        AuthFailures::write(state.workflow.store().as_ref(), vec![closed]).await;
                    }
                }
                Err(error)
            }
        }
    }
}

/// A JSON body: malformed, oversize, non-JSON or unknown-field bodies answer 4xx in the
/// API's error shape.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| match rejection {
                BytesRejection::FailedToBufferBody(_)
                    if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    ApiError::PayloadTooLarge(state.limits.body_bytes)
                }
                other => ApiError::BadRequest(format!(
                    "cannot read the request body: {}",
                    other.body_text().to_lowercase()
                )),
            })?;
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|error| ApiError::BadRequest(format!("invalid JSON body: {error}")))
    }
}
