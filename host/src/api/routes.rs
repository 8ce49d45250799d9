//! The handlers.

use std::collections::HashMap;
use std::str::FromStr;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde_json::{Value, json};

use super::error::{ApiError, Result};
use super::extract::{ApiJson, Caller};
use super::{AppState, OPENAPI};
use crate::audit::{Actor, RevocationScope};
use crate::domain::{ModuleVerdict, RequestState};
use crate::store::{ListFilter, RequestRecord};
use crate::workflow::{NewRequest, Revocations, Submitted, metrics};

/// A request as the API shows it.
#[derive(Serialize)]
pub(super) struct RequestView {
    #[serde(flatten)]
    record: RequestRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    modules: Option<Vec<ModuleVerdict>>,
}

fn view(record: RequestRecord) -> Json<RequestView> {
    Json(RequestView {
        record,
        modules: None,
    })
}

/// `POST /v1/requests`: 201 active, 202 pending approval, 403 denied (with the policy's
/// reason), 502 when provisioning failed (rolled back).
pub(super) async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewRequest>,
) -> Result<Response> {
    if let Err(wait) = state.rate.allow(&caller.0) {
        return Err(ApiError::RateLimited {
            per_minute: state.rate.per_minute(),
            retry_after: wait.as_secs().saturating_add(1),
        });
    }
    // The response names the module digests that decided, so a client can tell which
    // policy version answered.
    let Submitted { record, modules } = state.workflow.submit(&caller.0, body).await?;
    let status = match record.state {
        RequestState::Active => StatusCode::CREATED,
        RequestState::PendingApproval => StatusCode::ACCEPTED,
        RequestState::Denied => {
            let reason = match &record.verdict {
                Some(crate::policy::Verdict::Deny { reason }) => reason.clone(),
                _ => "denied by policy".to_owned(),
            };
            return Err(ApiError::Denied {
                request_id: record.id,
                reason,
                modules,
            });
        }
        RequestState::Failed => {
            return Err(ApiError::ProvisioningFailed {
                message: record
                    .error
                    .unwrap_or_else(|| "provisioning failed".to_owned()),
                request_id: record.id,
            });
        }
        other => {
            tracing::error!(request_id = %record.id, state = %other, "submit ended in an unexpected state");
            return Err(ApiError::Internal);
        }
    };
    let location = format!("/v1/requests/{}", record.id);
    let body = Json(RequestView {
        record,
        modules: Some(modules),
    });
    Ok((status, [(header::LOCATION, location)], body).into_response())
}

/// `GET /v1/requests/{id}`.
pub(super) async fn get_request(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RequestView>> {
    let see_all = caller.in_any(&state.admin_groups) || caller.in_any(&state.auditor_groups);
    let (record, modules) = state.workflow.get(&caller.0, &id, see_all).await?;
    Ok(Json(RequestView {
        record,
        modules: Some(modules),
    }))
}

fn parse_limit(value: Option<&String>) -> Result<u32> {
    value.map_or(Ok(0), |text| {
        text.parse::<u32>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("`limit` `{text}` must be between 1 and 500"))
            })
    })
}

fn reject_unknown(query: &HashMap<String, String>, known: &[&str]) -> Result<()> {
    match query.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => Err(ApiError::BadRequest(format!(
            "unknown query parameter `{key}`; expected one of {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        None => Ok(()),
    }
}

/// `GET /v1/requests?state=&cluster=&limit=&cursor=`: the caller's own requests; admins
/// and auditors see everyone's.
pub(super) async fn list_requests(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    reject_unknown(&query, &["state", "cluster", "limit", "cursor"])?;
    let request_state = query
        .get("state")
        .map(|s| RequestState::from_str(s).map_err(|e| ApiError::BadRequest(e.to_string())))
        .transpose()?;
    let filter = ListFilter {
        requester: None,
        cluster: query.get("cluster").cloned(),
        state: request_state,
        limit: parse_limit(query.get("limit"))?,
        cursor: query.get("cursor").cloned(),
    };
    let see_all = caller.in_any(&state.admin_groups) || caller.in_any(&state.auditor_groups);
    let page = state
        .workflow
        .list(&caller.0, see_all, filter)
        .await
        .map_err(|error| match error {
            crate::workflow::Error::Store(crate::store::Error::BadCursor(cursor)) => {
                ApiError::BadRequest(format!("`cursor` `{cursor}` is invalid"))
            }
            other => other.into(),
        })?;
    Ok(Json(json!({"items": page.items, "next": page.next})))
}

/// `GET /v1/requests/{id}/kubeconfig`: a fresh kubeconfig, to the requester only, while the
/// grant is active. Never stored, logged or audited (the audit records that one was issued).
pub(super) async fn kubeconfig(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let issued = state.workflow.kubeconfig(&caller.0, &id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/yaml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        issued.yaml,
    )
        .into_response())
}

/// `POST /v1/requests/{id}/revoke`: the requester or an admin. 200 `revoked`; 202
/// `revoking` when the cluster could not tear the grant down yet (it is retried until done).
pub(super) async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    let admin = caller.in_any(&state.admin_groups);
    let record = state.workflow.revoke(&caller.0, &id, admin).await?;
    let status = match record.state {
        RequestState::Revoking => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    };
    Ok((status, view(record)).into_response())
}

/// `POST /v1/revocations` (the kill switch): admins only. Revokes every live request of a
/// subject (`{"subject":{"issuer","sub"}}`), of a cluster (`{"cluster"}`) or all of them
/// (`{"all":true}`), and answers what was revoked, what had already ended, what failed and
/// what was still in flight.
pub(super) async fn revoke_in_scope(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(scope): ApiJson<RevocationScope>,
) -> Result<Json<Revocations>> {
    require_admin(&state, &caller, "the kill switch")?;
    Ok(Json(
        state.workflow.revoke_in_scope(&caller.0, scope).await?,
    ))
}

/// `GET /v1/policies`: for admins and auditors, the serving generation, the chains with
/// their modules, paths, digests and candidates (with their shadow counts), what the latest
/// reload refused and why, and (with replicas) this replica's id, the current reload
/// generation and every live replica with the generation it serves. Anyone else sees the
/// generation and each chain's entry names only.
pub(super) async fn policies(State(state): State<AppState>, caller: Caller) -> Json<Value> {
    let mut described = state.workflow.decider().describe();
    if !(caller.in_any(&state.admin_groups) || caller.in_any(&state.auditor_groups)) {
        return Json(outline(&described));
    }
    if let Some(replica) = &state.replica
        && let Value::Object(fields) = &mut described
    {
        match replica.view().await {
            Ok(Value::Object(view)) => fields.extend(view),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot read the replicas");
                fields.insert("replica".to_owned(), json!(replica.id()));
            }
        }
    }
    Json(described)
}

/// The parts of a `describe` answer a requester may see: the generation and, per cluster,
/// the names, `on_deny` and `on_allow` of its chain entries. Anything else, present or future, is left
/// out.
pub(super) fn outline(described: &Value) -> Value {
    let clusters: serde_json::Map<String, Value> = described["clusters"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(cluster, view)| {
            let chain: Vec<Value> = view["chain"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|entry| {
                    json!({
                        "name": entry["name"],
                        "on_deny": entry["on_deny"],
                        "on_allow": entry["on_allow"],
                    })
                })
                .collect();
            (cluster.clone(), json!({ "chain": chain }))
        })
        .collect();
    json!({"generation": described["generation"], "clusters": clusters})
}

fn require_admin(state: &AppState, caller: &Caller, what: &str) -> Result<()> {
    if caller.in_any(&state.admin_groups) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "{what} needs membership of an admin group"
        )))
    }
}

/// `POST /v1/policies/reload`: admins only. Re-reads the configuration's chains and the
/// module files, swaps what changed, and answers what changed and what was refused and why.
pub(super) async fn reload_policies(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>> {
    require_admin(&state, &caller, "reloading the policies")?;
    let by = Actor::user(&caller.0);
    let report = match &state.replica {
        Some(replica) => replica.reload("api", &by).await?,
        None => state.workflow.reload_policies("api", &by).await?,
    };
    Ok(Json(json!(report)))
}

/// `POST /v1/policies/{name}/promote?cluster=`: admins only. Makes the candidate of chain
/// entry `name` active (in `cluster` only, or wherever it has a candidate).
pub(super) async fn promote_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    require_admin(&state, &caller, "promoting a policy")?;
    reject_unknown(&query, &["cluster"])?;
    let (cluster, by) = (
        query.get("cluster").map(String::as_str),
        Actor::user(&caller.0),
    );
    let promoted = match &state.replica {
        Some(replica) => replica.promote(&name, cluster, &by).await,
        None => state.workflow.promote_policy(&name, cluster, &by).await,
    };
    let (promoted, report) = promoted.map_err(|error| match error {
        crate::workflow::Error::NotFound(what) => ApiError::NotFound(format!("no {what}")),
        other => other.into(),
    })?;
    Ok(Json(json!({"promoted": promoted, "reload": report})))
}

/// `GET /v1/audit?after=&limit=`: auditors only, oldest first, paged by sequence number.
pub(super) async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>> {
    if !caller.in_any(&state.auditor_groups) {
        return Err(ApiError::Forbidden(
            "reading the audit log needs membership of an auditor group".to_owned(),
        ));
    }
    reject_unknown(&query, &["after", "limit"])?;
    let after = query.get("after").map_or(Ok(0), |text| {
        text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::BadRequest(format!("`after` `{text}` must be a sequence number"))
        })
    })?;
    let limit = match parse_limit(query.get("limit"))? {
        0 => 100,
        n => n,
    };
    let events = state.workflow.store().audit_events(after, limit).await?;
    let next = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    Ok(Json(json!({"items": events, "next": next})))
}

/// `GET /healthz`: the process answers.
pub(super) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the store answers, every cluster's API server lists Wicket's objects and
/// (with replicas) this replica serves the current reload generation's modules, checked at
/// most once per [`super::READY_INTERVAL`] whoever calls.
pub(super) async fn readyz(State(state): State<AppState>) -> Result<Json<Value>> {
    state
        .ready
        .check(&state.workflow, state.replica.as_ref())
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(Json(json!({"status": "ready"})))
}

/// `GET /metrics`: Prometheus text, to whom the listener's [`super::MetricsAccess`] allows.
pub(super) async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    state.metrics.check(&headers)?;
    let active = state
        .workflow
        .store()
        .requests_in_state(RequestState::Active)
        .await?
        .len();
    let writes = state.workflow.store().write_stats();
    let mut registry = Registry::default();
    state
        .workflow
        .metrics()
        .register(&mut registry, active, writes);
    state.auth.register_metrics(&mut registry);
    state.sources.register_metrics(&mut registry);
    state.auth_failures.register_metrics(&mut registry);
    if let Some(tls) = &state.tls {
        tls.register_metrics(&mut registry);
    }
    let text = metrics::encode(&registry);
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

/// `GET /openapi.json`.
pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Any other path.
pub(super) async fn no_route(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for `{}`", uri.path()))
}

/// A known path with another method.
pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
