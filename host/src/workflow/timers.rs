//! Timers: one task per request with a due time (the store's `due_at`, written with the state
//! it guards), sleeping until then and driving the request on:
//!
//! - `active` at `expires_at`, or `expiring`: teardown, then `expired`;
//! - `revoking`: teardown, then `revoked`;
//! - `provisioning` (or `approved`) that no task of this process is working on (it panicked, or
//!   the process that was stopped): teardown, then `failed`.
//!
//! A teardown that fails is retried until it succeeds: the first retry after `retry_interval`,
//! each next one after twice the wait before, at most `retry_max_interval` (and a revoked
//! grant's retry no later than its `expires_at`). Every failure is counted, logged and audited
//! (a `state_changed` event saying which attempt failed and when the next is: an expired grant's
//! first failure moves it from `active` to `expiring`, later ones keep the state), and the next
//! attempt's time is stored as the request's due time, so a restart or the reconciler arms it
//! again.

use std::time::Duration;

use jiff::Timestamp;

use super::{Error, Workflow, actor, after, lock, new_error_id, now};
use crate::audit::Details;
use crate::domain::RequestState;
use crate::store::{self, RequestRecord};
use crate::workflow::ClusterFailure;

/// What one look at a due request found.
enum Step {
    /// Nothing left to do.
    Done,
    /// Look again at this time.
    At(Timestamp),
    /// The teardown failed; retry.
    Failed(Error),
}

/// Sleeps until `at` (at once if it is past).
async fn sleep_until(at: Timestamp) {
    let wait = Duration::try_from(at.duration_since(now())).unwrap_or_default();
    tokio::time::sleep(wait).await;
}

impl Workflow {
    /// Arms the timer of request `id` for `due_at` (at once if it is past), replacing the one
    /// it had.
    pub(super) fn arm(&self, id: &str, due_at: Timestamp) {
        let workflow = self.clone();
        let owned = id.to_owned();
        // Held until the handle is stored, so that a task that ends at once finds it.
        let mut timers = lock(&self.inner.timers);
        let task = tokio::spawn(async move {
            sleep_until(due_at).await;
            workflow.drive(&owned).await;
            let mut timers = lock(&workflow.inner.timers);
            if timers
                .get(&owned)
                .is_some_and(|timer| timer.id() == tokio::task::id())
            {
                timers.remove(&owned);
            }
        });
        if let Some(previous) = timers.insert(id.to_owned(), task.abort_handle()) {
            previous.abort();
        }
    }

    /// Cancels the timer of request `id`, if any.
    pub(super) fn disarm(&self, id: &str) {
        if let Some(timer) = lock(&self.inner.timers).remove(id) {
            timer.abort();
        }
    }

    /// How many timers are armed.
    pub fn armed_timers(&self) -> usize {
        lock(&self.inner.timers).len()
    }

    /// Arms the timer of every stored due time that has none in this process (on start and
    /// by every reconciler sweep); returns how many it armed.
    pub(super) async fn arm_stored(&self) -> store::Result<usize> {
        let mut armed = 0;
        for timer in self.inner.store.due_timers().await? {
            let idle = !lock(&self.inner.timers).contains_key(&timer.id)
                && !lock(&self.inner.in_flight).contains(&timer.id);
            if idle {
                self.arm(&timer.id, timer.due_at);
                armed += 1;
            }
        }
        Ok(armed)
    }

    /// Drives request `id` on until nothing is left to do (see the module's doc).
    async fn drive(&self, id: &str) {
        let mut failures = 0;
        loop {
            let record = match self.inner.store.get_request(id).await {
                Ok(record) => record,
                Err(store::Error::NotFound(_)) => return,
                Err(error) => {
                    tracing::error!(request_id = %id, %error, "cannot read a due request");
                    tokio::time::sleep(self.inner.settings.retry_interval).await;
                    continue;
                }
            };
            let next = match self.step(&record).await {
                Step::Done => {
                    self.inner.metrics.teardown_settled(id);
                    return;
                }
                Step::At(at) => at,
                Step::Failed(error) => {
                    failures += 1;
                    self.retry_later(&record, failures, &error).await
                }
            };
            sleep_until(next).await;
        }
    }

    async fn step(&self, record: &RequestRecord) -> Step {
        let id = record.id.as_str();
        let (to, by, note) = match record.state {
            RequestState::Active => match record.expires_at {
                Some(at) if at > now() => return Step::At(at),
                _ => (RequestState::Expired, actor("expiry"), None),
            },
            RequestState::Expiring => (RequestState::Expired, actor("expiry"), None),
            RequestState::Revoking => (RequestState::Revoked, actor("teardown"), None),
            RequestState::Provisioning | RequestState::Approved
                if lock(&self.inner.in_flight).contains(id) =>
            {
                return Step::At(after(now(), self.inner.settings.retry_interval));
            }
            RequestState::Provisioning => (
                RequestState::Failed,
                actor("teardown"),
                Some("provisioning was interrupted; what it created was rolled back"),
            ),
            RequestState::Approved => {
                // Nothing was created yet.
                return match self.fail_approved(record).await {
                    Ok(()) => Step::Done,
                    Err(error) => Step::Failed(error),
                };
            }
            _ => return Step::Done,
        };
        match self.end_grant(record, to, &by, note).await {
            Ok(ended) if ended.state.is_final() => Step::Done,
            // Another task moved it meanwhile (e.g. a revocation): look again.
            Ok(_) => Step::At(now()),
            Err(error) => Step::Failed(error),
        }
    }

    async fn fail_approved(&self, record: &RequestRecord) -> Result<(), Error> {
        let moved = self
            .inner
            .store
            .transition_due(
                store::Transition {
                    id: &record.id,
                    from: RequestState::Approved,
                    to: RequestState::Failed,
                    actor: &actor("workflow"),
                    note: Some("interrupted before provisioning"),
                    detail: None,
                    expires_at: None,
                },
                None,
            )
            .await;
        match moved {
            Ok(_) | Err(store::Error::StateConflict { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// After teardown attempt `failures` of `record` failed with `error`: counts, logs and
    /// audits it, and stores the time of the next attempt as its due time. Returns that time.
    pub(super) async fn retry_later(
        &self,
        record: &RequestRecord,
        failures: u32,
        error: &Error,
    ) -> Timestamp {
        let settings = &self.inner.settings;
        let backoff = settings
            .retry_interval
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
            .min(settings.retry_max_interval);
        let mut next = after(now(), backoff);
        // A revoked grant is retried at its expiry at the latest, as its expiry would have been.
        if let Some(expires_at) = record.expires_at
            && record.state == RequestState::Revoking
            && expires_at > now()
        {
            next = next.min(expires_at);
        }
        let id = record.id.as_str();
        let error_id = new_error_id();
        self.inner.metrics.teardown_failed(id);
        tracing::warn!(request_id = %id, state = %record.state, attempt = failures, %next, error_id, %error, "teardown failed; retrying");
        let note = format!(
            "teardown attempt {failures} failed (error id `{error_id}`): {error}; next attempt at \
             {next}"
        );
        let store = &self.inner.store;
        let by = actor("teardown");
        let stored = if record.state == RequestState::Active {
            // An expired grant: says so, and keeps its next attempt.
            let moved = store
                .transition_due(
                    store::Transition {
                        id,
                        from: RequestState::Active,
                        to: RequestState::Expiring,
                        actor: &by,
                        note: Some(&note),
                        detail: None,
                        expires_at: None,
                    },
                    Some(next),
                )
                .await;
            match moved {
                Ok(_) | Err(store::Error::StateConflict { .. }) => Ok(()),
                Err(error) => Err(error),
            }
        } else {
            let details = Details::StateChanged {
                from: record.state.as_str().to_owned(),
                to: record.state.as_str().to_owned(),
                note: Some(note),
            };
            store
                .reschedule(id, record.state, next, &by, &details)
                .await
                .map(|_| ())
        };
        if let Err(error) = stored {
            tracing::error!(request_id = %id, %error, "cannot store the next teardown attempt");
        }
        next
    }

    /// Tears down what a provisioning that ran out of time created (its cluster calls were
    /// cancelled half-way); what this cannot delete, the reconciler does (no token was ever
    /// minted for it). Returns the failure to record.
    pub(super) async fn abandon(&self, record: &RequestRecord) -> ClusterFailure {
        let limit = self.inner.settings.provision_timeout;
        let teardown = self.inner.clusters.teardown(
            &record.cluster,
            self.inner.store.installation(),
            &record.id,
        );
        match tokio::time::timeout(limit, teardown).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(request_id = %record.id, %error, "cannot roll back a provisioning that ran out of time; the reconciler will");
            }
            Err(_) => {
                tracing::warn!(request_id = %record.id, "rolling back a provisioning that ran out of time took too long; the reconciler will");
            }
        }
        ClusterFailure {
            step: Some("timeout".to_owned()),
            message: format!(
                "creating the grant's objects took longer than {} ms",
                limit.as_millis()
            ),
        }
    }
}
