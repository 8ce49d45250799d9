//! The incident kill switch: an admin ends every live request of a subject, of a cluster, or all
//! of them. Each request goes through the normal revocation (teardown, `revoked`, its own audit
//! events by the admin, noted as the kill switch's), and the call itself is one `kill_switch`
//! audit event with its scope and counts.
//!
//! It runs in a task of its own, so a client that hangs up does not stop it half-way. A request
//! another task ends meanwhile (expiry, a revocation) is reported as ended, never as a failure;
//! a grant whose teardown fails stays `revoking`, its teardown retried until it succeeds, and is
//! reported as failed.
//! After a pass it lists the scope again and revokes what became live meanwhile (a provisioning
//! that finished), up to three passes; requests still being provisioned then are reported as
//! in flight (call again).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Error, Invalid, Result, Workflow};
use crate::audit::{Actor, Details, RevocationScope};
use crate::domain::{Identity, RequestState};
use crate::store::{self, RequestRecord};

/// Revocations that run at once (each a handful of API calls to its cluster).
const PARALLEL: usize = 8;

/// Listings of live requests in scope, each revoking what the previous ones had not seen.
const PASSES: usize = 3;

/// Attempts at one request that other tasks keep moving.
const ATTEMPTS: usize = 3;

/// One request the kill switch concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevocationItem {
    /// The request.
    pub id: String,
    /// Its cluster.
    pub cluster: String,
    /// Its requester's issuer.
    pub issuer: String,
    /// Its requester's subject.
    pub subject: String,
    /// Its state now.
    pub state: RequestState,
    /// Why it could not be revoked, when it could not (details in the service log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What the kill switch did, each list ordered by request id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revocations {
    /// What it was asked to end.
    pub scope: RevocationScope,
    /// Grants torn down and pending requests withdrawn: now `revoked`.
    pub revoked: Vec<RevocationItem>,
    /// Requests another task ended first (expired, revoked, failed).
    pub ended: Vec<RevocationItem>,
    /// Grants whose teardown failed (`revoking` or `expiring`: retried until it succeeds),
    /// and requests that could not be revoked.
    pub failed: Vec<RevocationItem>,
    /// Requests being decided or provisioned: left as they were (they may become active).
    pub in_flight: Vec<RevocationItem>,
}

/// States whose requests the kill switch revokes (a `revoking` grant's teardown is tried
/// again at once).
const REVOCABLE: [RequestState; 4] = [
    RequestState::Active,
    RequestState::Revoking,
    RequestState::PendingApproval,
    RequestState::Approved,
];

/// States of requests on their way to a verdict or a grant.
const IN_FLIGHT: [RequestState; 2] = [RequestState::Received, RequestState::Provisioning];

fn in_scope(scope: &RevocationScope, record: &RequestRecord) -> bool {
    match scope {
        RevocationScope::Subject { issuer, sub } => {
            record.issuer == *issuer && record.subject == *sub
        }
        RevocationScope::Cluster(cluster) => record.cluster == *cluster,
        RevocationScope::All => true,
    }
}

fn item(record: &RequestRecord, error: Option<String>) -> RevocationItem {
    RevocationItem {
        id: record.id.clone(),
        cluster: record.cluster.clone(),
        issuer: record.issuer.clone(),
        subject: record.subject.clone(),
        state: record.state,
        error,
    }
}

fn count(items: &[RevocationItem]) -> u64 {
    u64::try_from(items.len()).unwrap_or(u64::MAX)
}

impl Workflow {
    /// Revokes every live request in `scope` as `identity` (the caller checks that it is an
    /// admin): active grants are torn down, pending ones withdrawn. Fails only when the
    /// scope names a cluster that is not configured, or the store cannot list the requests
    /// or record the call.
    pub async fn revoke_in_scope(
        &self,
        identity: &Identity,
        scope: RevocationScope,
    ) -> Result<Revocations> {
        if let RevocationScope::Cluster(cluster) = &scope
            && !self.inner.bounds.clusters.contains(cluster)
        {
            return Err(Invalid::UnknownCluster(cluster.clone()).into());
        }
        let workflow = self.clone();
        let by = Actor::user(identity);
        match tokio::spawn(async move { workflow.sweep_scope(scope, by).await }).await {
            Ok(done) => done,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(Error::Conflict("the service is stopping".to_owned())),
        }
    }

    async fn sweep_scope(&self, scope: RevocationScope, by: Actor) -> Result<Revocations> {
        let store = &self.inner.store;
        let note = Arc::<str>::from(format!("kill switch: {scope}"));
        let by = Arc::new(by);
        let mut done = BTreeMap::new();
        // Requests that became live during a pass (a provisioning that finished) are revoked
        // by the next one.
        for _ in 0..PASSES {
            let mut targets = Vec::new();
            for state in REVOCABLE {
                targets.extend(
                    store
                        .requests_in_state(state)
                        .await?
                        .into_iter()
                        .filter(|r| in_scope(&scope, r) && !done.contains_key(&r.id)),
                );
            }
            if targets.is_empty() {
                break;
            }
            let permits = Arc::new(Semaphore::new(PARALLEL));
            let mut tasks = JoinSet::new();
            for record in targets {
                let (workflow, note, by, permits) =
                    (self.clone(), note.clone(), by.clone(), permits.clone());
                tasks.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    workflow.revoke_one(record, &by, &note).await
                });
            }
            while let Some(joined) = tasks.join_next().await {
                match joined {
                    Ok(item) => {
                        done.insert(item.id.clone(), item);
                    }
                    Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
                    Err(_) => return Err(Error::Conflict("the service is stopping".to_owned())),
                }
            }
        }
        for state in IN_FLIGHT {
            for record in store.requests_in_state(state).await? {
                if in_scope(&scope, &record) {
                    done.entry(record.id.clone())
                        .or_insert_with(|| item(&record, None));
                }
            }
        }
        // Expired grants still on their cluster: nothing more to revoke, but not gone either.
        for record in store.requests_in_state(RequestState::Expiring).await? {
            if in_scope(&scope, &record) {
                let reason = format!(
                    "the grant has expired but cluster `{}` could not tear it down yet; its \
                     teardown is retried until it succeeds (details in the service log)",
                    record.cluster
                );
                done.entry(record.id.clone())
                    .or_insert_with(|| item(&record, Some(reason)));
            }
        }
        let mut report = Revocations {
            scope,
            revoked: Vec::new(),
            ended: Vec::new(),
            failed: Vec::new(),
            in_flight: Vec::new(),
        };
        for (_, item) in done {
            let list = match item.state {
                _ if item.error.is_some() => &mut report.failed,
                RequestState::Revoked => &mut report.revoked,
                state if state.is_final() => &mut report.ended,
                _ => &mut report.in_flight,
            };
            list.push(item);
        }
        store
            .append_audit(
                None,
                &by,
                &Details::KillSwitch {
                    scope: report.scope.clone(),
                    revoked: count(&report.revoked),
                    ended: count(&report.ended),
                    failed: count(&report.failed),
                    in_flight: count(&report.in_flight),
                },
            )
            .await?;
        tracing::warn!(
            scope = %report.scope,
            revoked = report.revoked.len(),
            ended = report.ended.len(),
            failed = report.failed.len(),
            in_flight = report.in_flight.len(),
            "kill switch"
        );
        Ok(report)
    }

    /// Revokes `record` through the normal revocation; when another task moved it meanwhile,
    /// looks again and revokes it if it is still live. Returns it as it ends up.
    pub(super) async fn revoke_one(
        &self,
        mut record: RequestRecord,
        by: &Actor,
        note: &str,
    ) -> RevocationItem {
        for _ in 0..ATTEMPTS {
            match self.end_early(&record, by, Some(note)).await {
                Ok(now) if now.state == RequestState::Revoking => {
                    let reason = format!(
                        "cluster `{}` could not tear the grant down yet; it stays `revoking` and \
                         its teardown is retried until it succeeds (details in the service log)",
                        now.cluster
                    );
                    return item(&now, Some(reason));
                }
                Ok(now) => return item(&now, None),
                Err(Error::Conflict(_) | Error::Store(store::Error::StateConflict { .. })) => {
                    match self.inner.store.get_request(&record.id).await {
                        Ok(now) if REVOCABLE.contains(&now.state) => record = now,
                        Ok(now) => return item(&now, None),
                        Err(error) => return failed(&record, &error.into()),
                    }
                }
                Err(error) => return failed(&record, &error),
            }
        }
        let error = Error::Conflict(format!("request `{}` kept changing state", record.id));
        failed(&record, &error)
    }
}

/// A request the kill switch could not revoke, as it stands, with a client-safe reason; the
/// detail goes to the log.
fn failed(record: &RequestRecord, error: &Error) -> RevocationItem {
    tracing::error!(request_id = %record.id, cluster = %record.cluster, %error, "kill switch revocation failed");
    let reason = "the revocation failed (details in the service log)".to_owned();
    item(record, Some(reason))
}
