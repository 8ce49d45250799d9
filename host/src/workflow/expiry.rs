//! Expiry: one timer per active grant, a task sleeping until `expires_at` that then tears
//! the grant down (retrying a failed teardown) and marks it `expired`.

use std::time::Duration;

use jiff::Timestamp;

use super::{Workflow, actor, lock, now};
use crate::store::RequestState;

impl Workflow {
    /// Schedules the teardown of request `id` at `expires_at` (at once if it is past).
    pub(super) fn arm(&self, id: &str, expires_at: Timestamp) {
        let workflow = self.clone();
        let owned = id.to_owned();
        let task = tokio::spawn(async move {
            let wait = Duration::try_from(expires_at.duration_since(now())).unwrap_or_default();
            tokio::time::sleep_until(tokio::time::Instant::now() + wait).await;
            workflow.expire(&owned).await;
            lock(&workflow.inner.timers).remove(&owned);
        });
        if let Some(previous) = lock(&self.inner.timers).insert(id.to_owned(), task.abort_handle())
        {
            previous.abort();
        }
    }

    /// Cancels the timer of request `id`, if any.
    pub(super) fn disarm(&self, id: &str) {
        if let Some(timer) = lock(&self.inner.timers).remove(id) {
            timer.abort();
        }
    }

    /// How many expiry timers are armed.
    pub fn armed_timers(&self) -> usize {
        lock(&self.inner.timers).len()
    }

    /// Ends the grant of `id` if it is still active, retrying until the teardown succeeds.
    async fn expire(&self, id: &str) {
        let expiry = actor("expiry");
        loop {
            let record = match self.inner.store.get_request(id).await {
                Ok(record) if record.state == RequestState::Active => record,
                Ok(_) => return,
                Err(error) => {
                    tracing::error!(request_id = %id, %error, "cannot read an expiring request");
                    tokio::time::sleep(self.inner.settings.retry_interval).await;
                    continue;
                }
            };
            match self
                .end_grant(&record, RequestState::Expired, &expiry, None)
                .await
            {
                Ok(_) => return,
                Err(error) => {
                    tracing::error!(request_id = %id, %error, "teardown failed; retrying");
                    tokio::time::sleep(self.inner.settings.retry_interval).await;
                }
            }
        }
    }
}
