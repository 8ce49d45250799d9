//! The request pipeline, in the API server's order: authenticate, resolve request info,
//! authorize, apply injected faults, then serve (discovery, objects, reviews, admin endpoints).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use crate::auth::{TokenSigner, UserInfo, service_account_user};
use crate::faults::{Action, Faults};
use crate::rbac::{self, Attributes};
use crate::request_info;
use crate::status::ApiError;
use crate::store::{Change, Store};
use crate::token_cache::TokenCache;
use crate::{admin, discovery, impersonation, objects, watch as watches};

/// Largest accepted request body (the real server's limit is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Everything a request may touch.
#[derive(Debug)]
pub struct State {
    /// Objects.
    pub store: Mutex<Store>,
    /// Service-account token signer.
    pub signer: TokenSigner,
    /// Static bearer tokens (the admin's and any configured users').
    pub static_tokens: BTreeMap<String, UserInfo>,
    /// Fault rules.
    pub faults: Faults,
    /// `host:port` the server listens on.
    pub server_address: String,
    /// Flips to true on shutdown (releases hanging requests).
    pub shutdown: watch::Receiver<bool>,
    /// Stored changes, for watches.
    pub events: broadcast::Sender<Arc<Change>>,
    /// Every request served, in order.
    pub log: Mutex<Vec<RequestRecord>>,
    /// Successful service-account token authentications, when cached (see [`TokenCache`]).
    pub token_cache: Option<TokenCache>,
}

impl State {
    /// Locks the store (a panic in another request does not poison it for the rest).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends the changes the last write made to every watch.
    pub fn publish(&self, changes: Vec<Change>) {
        for c in changes {
            // No receiver means no watch is open: nothing to tell.
            let _ = self.events.send(Arc::new(c));
        }
    }

    /// The user a bearer token designates, or `None` when it is not valid now.
    pub fn authenticate_token(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<UserInfo, String> {
        if let Some(user) = self.static_tokens.get(token) {
            return Ok(user.clone());
        }
        if let Some(user) = self
            .token_cache
            .as_ref()
            .and_then(|c| c.get(token, audiences))
        {
            return Ok(user);
        }
        let claims = self
            .signer
            .verify(token, audiences)
            .map_err(|e| e.to_string())?;
        let user = service_account_user(&self.store(), &claims).map_err(|e| e.to_string())?;
        if let Some(cache) = &self.token_cache {
            cache.put(token, audiences, &user, claims.exp);
        }
        Ok(user)
    }
}

/// A parsed request body with its media type.
#[derive(Debug, Clone)]
pub struct Body {
    /// `Content-Type` without parameters.
    pub content_type: String,
    /// Raw bytes.
    pub bytes: Bytes,
}

/// The body type of every response (whole JSON documents, or a watch stream).
pub type ResponseBody = BoxBody<Bytes, Infallible>;

/// JSON response with a status code.
pub fn json_response(code: u16, body: &Value) -> Response<ResponseBody> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error_response(e: &ApiError) -> Response<ResponseBody> {
    json_response(e.code, &e.to_status())
}

/// One served request, as the request log keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestRecord {
    /// The user the request acted as (`""` when authentication failed).
    pub user: String,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Verb, namespace, group, resource, subresource and name as RBAC saw them.
    pub attrs: Attributes,
    /// HTTP status code answered.
    pub code: u16,
}

/// Serves one HTTP request and records it in the request log.
pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<ResponseBody> {
    let mut record = RequestRecord::default();
    let resp = respond(&state, req, &mut record).await;
    record.code = resp.status().as_u16();
    state
        .log
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(record);
    resp
}

async fn respond(
    state: &Arc<State>,
    req: Request<Incoming>,
    record: &mut RequestRecord,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    record.method = method.clone();
    record.path = path.clone();
    let query: BTreeMap<String, String> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let bearer = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());

    let user = match bearer {
        None => UserInfo::anonymous(),
        Some(token) => match state.authenticate_token(&token, &[]) {
            Ok(u) => u,
            Err(why) => {
                tracing::info!(%method, %path, %why, "unauthorized");
                return error_response(&ApiError::unauthorized());
            }
        },
    };

    let user = match impersonation::resolve(&state.store(), user, &parts.headers) {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };

    record.user = user.username.clone();

    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return error_response(&ApiError::custom(
                413,
                "RequestEntityTooLarge",
                "the request body is too large",
            ));
        }
    };
    let body = Body {
        content_type,
        bytes,
    };

    if path.starts_with("/kube-sim/") {
        return match admin::serve(state, &user, &method, &path, &body) {
            Ok((code, v)) => json_response(code, &v),
            Err(e) => error_response(&e),
        };
    }

    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let info = request_info::parse(&method, &path, watch);
    record.attrs = info.attrs.clone();
    let decision = rbac::authorize(&state.store(), &user, &info.attrs);
    if !decision.allowed {
        let e = forbidden(&user, &info.attrs);
        tracing::info!(user = %user.username, %method, %path, "forbidden");
        return error_response(&e);
    }

    let mut latency = 0u64;
    for action in state.faults.fire(&info.attrs) {
        match action {
            Action::Fail {
                code,
                reason,
                message,
            } => {
                return error_response(&ApiError::custom(code, &reason, &message));
            }
            Action::Hang => {
                let mut rx = state.shutdown.clone();
                // Waits until shutdown; a closed channel also means the server is gone.
                let _ = rx.wait_for(|down| *down).await;
                return error_response(&ApiError::custom(
                    503,
                    "ServiceUnavailable",
                    "kube-sim is shutting down",
                ));
            }
            Action::Latency { millis } => latency += millis,
        }
    }
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }

    if info.attrs.resource_request && info.attrs.verb == "watch" {
        return match watches::start(state.clone(), &info, &query) {
            Ok(body) => {
                let mut resp = Response::new(body.boxed());
                resp.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                resp
            }
            Err(e) => error_response(&e),
        };
    }
    let result = if info.attrs.resource_request {
        objects::serve(state, &user, &info, &query, &body)
    } else {
        non_resource(state, &path)
    };
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

/// The 403 for a denied request.
pub fn forbidden(user: &UserInfo, attrs: &Attributes) -> ApiError {
    let why = rbac::forbidden_message(user, attrs);
    if !attrs.resource_request {
        return ApiError::forbidden("", "", "", "", &why);
    }
    let group_resource = if attrs.api_group.is_empty() {
        attrs.resource.clone()
    } else {
        format!("{}.{}", attrs.resource, attrs.api_group)
    };
    ApiError::forbidden(
        &group_resource,
        &attrs.api_group,
        &attrs.resource,
        &attrs.name,
        &why,
    )
}

fn non_resource(state: &State, path: &str) -> Result<(u16, Value), ApiError> {
    let p = path.trim_end_matches('/');
    let found = match p {
        "/version" => Some(discovery::version()),
        "/api" => Some(discovery::core_versions(&state.server_address)),
        "/apis" => Some(discovery::groups()),
        "/healthz" | "/livez" | "/readyz" => return Ok((200, Value::String("ok".into()))),
        "/openapi/v3" => Some(discovery::openapi_v3_root()),
        _ => {
            if let Some(gv) = p.strip_prefix("/openapi/v3/") {
                discovery::openapi_v3_group_version(gv)
            } else if let Some(rest) = p.strip_prefix("/apis/") {
                match rest.split('/').collect::<Vec<_>>().as_slice() {
                    [g] => discovery::group(g),
                    [g, v] => discovery::resource_list(g, v),
                    _ => None,
                }
            } else if let Some(v) = p.strip_prefix("/api/") {
                discovery::resource_list("", v)
            } else {
                None
            }
        }
    };
    found.map(|v| (200, v)).ok_or_else(ApiError::no_route)
}
