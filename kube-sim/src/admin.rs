//! The admin-only endpoint for fault injection: `GET|POST|DELETE /kube-sim/v1/faults`,
//! `DELETE /kube-sim/v1/faults/<id>`. Only `system:masters` may use it.

use serde_json::{Value, json};

use crate::api::{Body, State};
use crate::auth::UserInfo;
use crate::faults::FaultRule;
use crate::status::{ApiError, Result};

/// Serves an admin request.
pub fn serve(
    state: &State,
    user: &UserInfo,
    method: &str,
    path: &str,
    body: &Body,
) -> Result<(u16, Value)> {
    if !user.is_master() {
        let why = format!(
            "User {:?} cannot {} path {path:?}",
            user.username,
            method.to_ascii_lowercase()
        );
        return Err(ApiError::forbidden("", "", "", "", &why));
    }
    let rest = path
        .strip_prefix("/kube-sim/v1/faults")
        .ok_or_else(ApiError::no_route)?;
    match (method, rest.trim_end_matches('/')) {
        ("GET", "") => Ok((200, json!({"faults": state.faults.list()}))),
        ("POST", "") => {
            let rule: FaultRule = serde_json::from_slice(&body.bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid fault rule: {e}")))?;
            let id = state.faults.add(rule);
            Ok((201, json!({"id": id})))
        }
        ("DELETE", "") => {
            state.faults.clear();
            Ok((200, json!({"cleared": true})))
        }
        ("DELETE", id) => {
            let id: u64 = id.trim_start_matches('/').parse().map_err(|_| {
                ApiError::bad_request(format!("invalid fault id `{}`", id.trim_start_matches('/')))
            })?;
            if state.faults.remove(id) {
                Ok((200, json!({"removed": id})))
            } else {
                Err(ApiError::custom(
                    404,
                    "NotFound",
                    &format!("fault {id} not found"),
                ))
            }
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}
