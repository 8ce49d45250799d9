//! `/readyz` without an amplifier: anyone may call it, so its answer is checked at most once
//! per [`Readiness::interval`] (one check at a time, under a deadline) and shared by every
//! caller meanwhile.

use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::app::Replica;
use crate::workflow::Workflow;

/// How long an answer is reused.
pub const READY_INTERVAL: Duration = Duration::from_secs(5);
/// A check not done by then answers "not ready".
pub const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The last readiness answer and when it was found.
#[derive(Debug)]
pub struct Readiness {
    interval: Duration,
    timeout: Duration,
    last: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new(READY_INTERVAL, READY_TIMEOUT)
    }
}

impl Readiness {
    /// Answers reused for `interval`; a check lasting longer than `timeout` fails.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Self {
            interval,
            timeout,
            last: Mutex::new(None),
        }
    }

    /// Whether the store and every cluster answer and `replica` (if any) serves the current
    /// reload generation's modules: the last answer when it is recent enough, else a new
    /// check. Callers arriving during a check wait for it and share its answer.
    pub async fn check(
        &self,
        workflow: &Workflow,
        replica: Option<&Replica>,
    ) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = &*last
            && at.elapsed() < self.interval
        {
            return answer.clone();
        }
        let answer = tokio::time::timeout(self.timeout, probe(workflow, replica))
            .await
            .unwrap_or_else(|_| {
                tracing::warn!(timeout = ?self.timeout, "readiness check timed out");
                Err("the readiness check timed out".to_owned())
            });
        *last = Some((Instant::now(), answer.clone()));
        answer
    }
}

/// The store answers, every cluster's API server lists Wicket's objects and the replica
/// serves the current reload generation's modules.
async fn probe(workflow: &Workflow, replica: Option<&Replica>) -> Result<(), String> {
    if let Err(error) = workflow.store().audit_events(0, 1).await {
        tracing::warn!(%error, "store not ready");
        return Err("the store is not reachable".to_owned());
    }
    let clusters = workflow.clusters();
    let installation = workflow.store().installation();
    for cluster in clusters.names() {
        if let Err(error) = clusters.list_managed(&cluster, installation).await {
            tracing::warn!(%cluster, %error, "cluster not ready");
            return Err(format!("cluster `{cluster}` is not reachable"));
        }
    }
    match replica {
        Some(replica) => replica.in_step().await,
        None => Ok(()),
    }
}
