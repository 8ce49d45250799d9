//! The REST API edge (axum): routes, the bearer-token extractor, JSON errors, body size,
//! per-source (before authentication) and per-subject rate limits, failed authentications
//! counted per source, health, readiness, Prometheus metrics, the OpenAPI document and TLS.
//!
//! [`router`] builds the whole API from an [`AppState`]; tests call it without a socket. A
//! server gives it each connection's peer address as `ConnectInfo<SocketAddr>`
//! (`into_make_service_with_connect_info`); without one, every call counts as one source.

mod error;
mod extract;
mod failures;
mod metrics;
mod rate;
mod ready;
mod routes;
mod source;
mod throttle;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::{ApiError, Result};
pub use extract::{ApiJson, Caller};
pub use failures::AuthFailures;
pub use metrics::{MIN_TOKEN_BYTES, MetricsAccess, MetricsToken, TokenError};
pub use rate::RateLimiter;
pub use ready::{READY_INTERVAL, READY_TIMEOUT, Readiness};
pub use source::Source;
pub use throttle::SourceLimiter;

use crate::app::Replica;
use crate::auth::Authenticator;
use crate::config::Limits;
use crate::workflow::Workflow;

/// The hand-written OpenAPI 3 document served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every route, as `(method, path)`; the OpenAPI document describes each.
pub const ROUTES: [(&str, &str); 14] = [
    ("post", "/v1/requests"),
    ("get", "/v1/requests"),
    ("get", "/v1/requests/{id}"),
    ("get", "/v1/requests/{id}/kubeconfig"),
    ("post", "/v1/requests/{id}/revoke"),
    ("post", "/v1/revocations"),
    ("get", "/v1/policies"),
    ("post", "/v1/policies/reload"),
    ("post", "/v1/policies/{name}/promote"),
    ("get", "/v1/audit"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The request workflow (and through it the store, policies and clusters).
    pub workflow: Workflow,
    /// Verifies bearer tokens.
    pub auth: Arc<Authenticator>,
    /// Members of these groups (`<issuer alias>:<group>`) see and revoke every request.
    pub admin_groups: Arc<Vec<String>>,
    /// Members of these groups (`<issuer alias>:<group>`) read the audit log.
    pub auditor_groups: Arc<Vec<String>>,
    /// Body size and request rate limits.
    pub limits: Limits,
    /// The per-subject limiter of `POST /v1/requests`.
    pub rate: Arc<RateLimiter>,
    /// The per-source limiter in front of every route.
    pub sources: Arc<SourceLimiter>,
    /// Failed authentications, counted per source until they are audited.
    pub auth_failures: Arc<AuthFailures>,
    /// Who may read `/metrics` on this listener.
    pub metrics: MetricsAccess,
    /// The shared answer of `/readyz`.
    pub ready: Arc<Readiness>,
    /// The API's TLS, whose reload counters `/metrics` shows.
    pub tls: Option<tls::Tls>,
    /// This replica, when the service runs as one of several sharing the database: reloads
    /// and promotions go through it (every replica follows), `/readyz` checks it serves the
    /// current reload generation's modules and `GET /v1/policies` lists the replicas.
    pub replica: Option<Replica>,
}

impl AppState {
    /// State for `workflow` and `auth` with the configured groups and limits.
    pub fn new(
        workflow: Workflow,
        auth: Arc<Authenticator>,
        admin_groups: Vec<String>,
        auditor_groups: Vec<String>,
        limits: Limits,
    ) -> Self {
        Self {
            workflow,
            auth,
            admin_groups: Arc::new(admin_groups),
            auditor_groups: Arc::new(auditor_groups),
            rate: Arc::new(RateLimiter::new(limits.requests_per_minute)),
            sources: Arc::new(SourceLimiter::new(&limits)),
            auth_failures: Arc::new(AuthFailures::new(limits.tracked_sources)),
            limits,
            metrics: MetricsAccess::Closed,
            ready: Arc::new(Readiness::default()),
            tls: None,
            replica: None,
        }
    }

    /// The same state with reloads, promotions, readiness and `GET /v1/policies` going
    /// through `replica`.
    pub fn with_replica(mut self, replica: Replica) -> Self {
        self.replica = Some(replica);
        self
    }

    /// The same state with `/metrics` served to `access`.
    pub fn with_metrics(mut self, access: MetricsAccess) -> Self {
        self.metrics = access;
        self
    }

    /// The same state showing the reload counters of `tls` in `/metrics`.
    pub fn with_tls(mut self, tls: tls::Tls) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// The whole API. Every call passes the per-source rate limit first.
pub fn router(state: AppState) -> Router {
    let body_limit = state.limits.body_bytes;
    Router::new()
        .route(
            "/v1/requests",
            post(routes::submit).get(routes::list_requests),
        )
        .route("/v1/requests/{id}", get(routes::get_request))
        .route("/v1/requests/{id}/kubeconfig", get(routes::kubeconfig))
        .route("/v1/requests/{id}/revoke", post(routes::revoke))
        .route("/v1/revocations", post(routes::revoke_in_scope))
        .route("/v1/policies", get(routes::policies))
        .route("/v1/policies/reload", post(routes::reload_policies))
        .route("/v1/policies/{name}/promote", post(routes::promote_policy))
        .route("/v1/audit", get(routes::audit))
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            throttle::limit_sources,
        ))
        .with_state(state)
}

/// `/metrics` alone, for a listener of its own.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(routes::metrics))
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .with_state(state)
}

#[cfg(test)]
mod tests;
