//! What is asked for.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use jiff::Timestamp;
use serde::{Deserialize, Serialize, Serializer};

use crate::access::{Access, Rule};
use crate::duration::Duration;
use crate::json::Rfc3339;

/// An access request as the requester sent it, validated by the host.
///
/// In JSON the access is flattened: `{"id": "r1", "cluster": "prod", "namespaces": ["payments"],
/// "role": "edit", "duration_seconds": 1800, "reason": "INC-1", "requested_at":
/// "2026-11-23T10:00:00Z"}` (or `"rules": [...]` instead of `"role"`). `evaluated_at` is written
/// only when it differs from `requested_at` (and defaults to it), `extends` only when set.
/// Files people write take the looser [`RequestInput`] form.
///
/// ```
/// use wicket_contract::{Access, AccessRequest};
///
/// let request = AccessRequest::new("prod", Access::role("edit"), 1800)
///     .with_namespace("payments")
///     .with_reason("INC-123 payments failing")
///     .with_context("ticket", "INC-123");
/// assert_eq!(request.context("ticket"), Some("INC-123"));
/// assert_eq!(request.namespaces, ["payments"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RequestInput")]
pub struct AccessRequest {
    /// The request's id, unique and stable.
    pub id: String,
    /// The target cluster's configured name.
    pub cluster: String,
    /// The namespaces asked for.
    pub namespaces: Vec<String>,
    /// What is asked for in each namespace.
    pub access: Access,
    /// Cluster-scoped rules asked for; usually empty.
    pub cluster_rules: Vec<Rule>,
    /// How long the access is asked for, in seconds.
    pub duration_seconds: u64,
    /// Why, in the requester's words.
    pub reason: String,
    /// Free-form context, e.g. `ticket` → `INC-123`.
    pub context: BTreeMap<String, String>,
    /// When the host received the request.
    pub requested_at: Timestamp,
    /// When this evaluation happens, a policy's "now" (the sandbox has no clock): equal to
    /// `requested_at` when a request is first decided, the time of the final approval when the
    /// chain runs again at approval. Read it with [`AccessRequest::now`].
    pub evaluated_at: Timestamp,
    /// For a request to extend an active grant, that grant's request id.
    pub extends: Option<String>,
}

/// The JSON form written for an [`AccessRequest`].
#[derive(Serialize)]
struct RequestOutput<'a> {
    id: &'a str,
    cluster: &'a str,
    namespaces: &'a [String],
    #[serde(flatten)]
    access: &'a Access,
    #[serde(skip_serializing_if = "<[Rule]>::is_empty")]
    cluster_rules: &'a [Rule],
    duration_seconds: u64,
    reason: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    context: &'a BTreeMap<String, String>,
    requested_at: Rfc3339<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    evaluated_at: Option<Rfc3339<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extends: Option<&'a str>,
}

impl Serialize for AccessRequest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RequestOutput {
            id: &self.id,
            cluster: &self.cluster,
            namespaces: &self.namespaces,
            access: &self.access,
            cluster_rules: &self.cluster_rules,
            duration_seconds: self.duration_seconds,
            reason: &self.reason,
            context: &self.context,
            requested_at: Rfc3339(&self.requested_at),
            evaluated_at: (self.evaluated_at != self.requested_at)
                .then_some(Rfc3339(&self.evaluated_at)),
            extends: self.extends.as_deref(),
        }
        .serialize(serializer)
    }
}

/// A request as people write it in request and cases files: the [`AccessRequest`] form, or the
/// REST API's body (`"duration": "30m"` instead of `"duration_seconds": 1800`), with `id`,
/// `requested_at` and `evaluated_at` optional.
///
/// ```
/// use wicket_contract::{jiff::Timestamp, RequestInput};
///
/// let body = r#"{"cluster": "prod", "namespaces": ["web"], "role": "view", "duration": "1h30m"}"#;
/// let input: RequestInput = serde_json::from_str(body).unwrap();
/// let now: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
/// let request = input.complete("cli", now).unwrap();
/// assert_eq!((request.id.as_str(), request.duration_seconds), ("cli", 5400));
/// assert_eq!((request.requested_at, request.now()), (now, now));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RequestInput {
    /// The request's id; default: the caller's.
    #[serde(default)]
    pub id: Option<String>,
    /// The target cluster's configured name.
    pub cluster: String,
    /// The namespaces asked for.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// What is asked for in each namespace (`role` or `rules`).
    #[serde(flatten)]
    pub access: Access,
    /// Cluster-scoped rules asked for.
    #[serde(default)]
    pub cluster_rules: Vec<Rule>,
    /// How long, in seconds (the policies' form).
    #[serde(default)]
    pub duration_seconds: Option<u64>,
    /// How long, as in the REST API: `"30m"`, `"1h30m"`, `"1d"` or whole seconds.
    #[serde(default)]
    pub duration: Option<Duration>,
    /// Why, in the requester's words.
    #[serde(default)]
    pub reason: String,
    /// Free-form context.
    #[serde(default)]
    pub context: BTreeMap<String, String>,
    /// When the host received the request; default: the caller's "now".
    #[serde(
        default,
        deserialize_with = "crate::json::optional_timestamp::deserialize"
    )]
    pub requested_at: Option<Timestamp>,
    /// When the request is evaluated; default: `requested_at`.
    #[serde(
        default,
        deserialize_with = "crate::json::optional_timestamp::deserialize"
    )]
    pub evaluated_at: Option<Timestamp>,
    /// The request id of the grant this request extends.
    #[serde(default)]
    pub extends: Option<String>,
}

/// Why a [`RequestInput`] is not a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A required field is absent.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// Both `duration` and `duration_seconds`.
    #[error("give `duration` or `duration_seconds`, not both")]
    TwoDurations,
    /// Neither `duration` nor `duration_seconds`.
    #[error("missing field `duration` (e.g. `\"30m\"`) or `duration_seconds`")]
    NoDuration,
    /// A `duration` with a fraction of a second.
    #[error("`duration` `{0}` must be a whole number of seconds")]
    Fraction(Duration),
}

impl RequestInput {
    /// The request, with `id` and `now` (as `requested_at`) where the input has none.
    pub fn complete(self, id: &str, now: Timestamp) -> Result<AccessRequest, RequestError> {
        self.build(Some(id), Some(now))
    }

    fn build(
        self,
        id: Option<&str>,
        now: Option<Timestamp>,
    ) -> Result<AccessRequest, RequestError> {
        let duration_seconds = match (self.duration_seconds, self.duration) {
            (Some(_), Some(_)) => return Err(RequestError::TwoDurations),
            (None, None) => return Err(RequestError::NoDuration),
            (Some(seconds), None) => seconds,
            (None, Some(duration)) if duration.as_core().subsec_nanos() != 0 => {
                return Err(RequestError::Fraction(duration));
            }
            (None, Some(duration)) => duration.as_secs(),
        };
        let requested_at = self
            .requested_at
            .or(now)
            .ok_or(RequestError::Missing("requested_at"))?;
        Ok(AccessRequest {
            id: self
                .id
                .or_else(|| id.map(String::from))
                .ok_or(RequestError::Missing("id"))?,
            cluster: self.cluster,
            namespaces: self.namespaces,
            access: self.access,
            cluster_rules: self.cluster_rules,
            duration_seconds,
            reason: self.reason,
            context: self.context,
            requested_at,
            evaluated_at: self.evaluated_at.unwrap_or(requested_at),
            extends: self.extends,
        })
    }
}

/// A stored or generated request: every field present (`evaluated_at` defaults to
/// `requested_at`).
impl TryFrom<RequestInput> for AccessRequest {
    type Error = RequestError;

    fn try_from(input: RequestInput) -> Result<Self, RequestError> {
        input.build(None, None)
    }
}

impl AccessRequest {
    /// A request with id `request`, no namespaces, no reason, no context, made and evaluated at
    /// the Unix epoch.
    pub fn new(cluster: impl Into<String>, access: Access, duration_seconds: u64) -> Self {
        Self {
            id: String::from("request"),
            cluster: cluster.into(),
            namespaces: Vec::new(),
            access,
            cluster_rules: Vec::new(),
            duration_seconds,
            reason: String::new(),
            context: BTreeMap::new(),
            requested_at: Timestamp::UNIX_EPOCH,
            evaluated_at: Timestamp::UNIX_EPOCH,
            extends: None,
        }
    }

    /// The same request with id `id`.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The same request, also for `namespace`.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespaces.push(namespace.into());
        self
    }

    /// The same request, also for the cluster-scoped `rule`.
    pub fn with_cluster_rule(mut self, rule: Rule) -> Self {
        self.cluster_rules.push(rule);
        self
    }

    /// The same request with reason `reason`.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// The same request with context `key` set to `value`.
    pub fn with_context(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.context.insert(key.into(), value.into());
        self
    }

    /// The same request, received and evaluated at `at`.
    pub fn with_requested_at(mut self, at: Timestamp) -> Self {
        self.requested_at = at;
        self.evaluated_at = at;
        self
    }

    /// The same request, evaluated at `at` (e.g. at its approval), still received when it was.
    pub fn with_evaluated_at(mut self, at: Timestamp) -> Self {
        self.evaluated_at = at;
        self
    }

    /// The same request, extending the grant of request `id`.
    pub fn with_extends(mut self, id: impl Into<String>) -> Self {
        self.extends = Some(id.into());
        self
    }

    /// A policy's "now": when this evaluation happens ([`AccessRequest::evaluated_at`]), e.g.
    /// for working hours. The sandbox has no clock.
    ///
    /// ```
    /// use wicket_contract::{jiff::Timestamp, Access, AccessRequest};
    ///
    /// let asked: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    /// let approved: Timestamp = "2026-11-23T11:30:00Z".parse().unwrap();
    /// let request = AccessRequest::new("prod", Access::role("view"), 600)
    ///     .with_requested_at(asked)
    ///     .with_evaluated_at(approved);
    /// assert_eq!(request.now(), approved);
    /// ```
    pub fn now(&self) -> Timestamp {
        self.evaluated_at
    }

    /// Context value `key`, if the requester sent one.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.context.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use serde_json::json;

    use super::*;

    /// The stored form reads as before (no `evaluated_at`: it is `requested_at`), and a request
    /// evaluated at another time keeps both times through JSON.
    #[test]
    fn stored_form_round_trips_and_writes_evaluated_at_only_when_it_differs() {
        let old = json!({"id": "r1", "cluster": "prod", "namespaces": ["payments"], "role": "edit",
            "duration_seconds": 1800, "reason": "INC-1", "requested_at": "2026-11-21T10:00:00Z"});
        let request: AccessRequest = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(request.requested_at.as_second(), 1_795_255_200);
        assert_eq!(request.now(), request.requested_at);
        assert_eq!(serde_json::to_value(&request).unwrap(), old);

        let later = request
            .clone()
            .with_evaluated_at("2026-11-21T11:00:00Z".parse().unwrap())
            .with_extends("r0");
        let written = serde_json::to_value(&later).unwrap();
        assert_eq!(written["evaluated_at"], "2026-11-21T11:00:00Z");
        assert_eq!(written["extends"], "r0");
        assert_eq!(
            serde_json::from_value::<AccessRequest>(written).unwrap(),
            later
        );
    }

    #[test]
    fn a_stored_request_needs_its_id_and_time() {
        let body = json!({"cluster": "prod", "role": "edit", "duration": "30m"});
        let error = serde_json::from_value::<AccessRequest>(body.clone()).unwrap_err();
        assert!(
            error.to_string().contains("missing field `requested_at`"),
            "{error}"
        );
        let input: RequestInput = serde_json::from_value(body).unwrap();
        let request = input.complete("cli", Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(request.duration_seconds, 1800);
    }

    #[test]
    fn a_fractional_duration_is_refused() {
        let input: RequestInput =
            serde_json::from_value(json!({"cluster": "p", "role": "v", "duration": "1500ms"}))
                .unwrap();
        let error = input.complete("cli", Timestamp::UNIX_EPOCH).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`duration` `1s500ms` must be a whole number of seconds"
        );
    }
}
