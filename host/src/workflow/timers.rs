//! Timers: every request with a due time (the store's `due_at`, written with the state it
//! guards) is driven on when due, by exactly one replica at a time:
//!
//! - `active` at `expires_at`, or `expiring`: teardown, then `expired`;
//! - `revoking`: teardown, then `revoked`;
//! - `received`, `approved`, `provisioning` whose deadline passed (the process working on it
//!   stopped, or its task panicked): teardown, then `failed`.
//!
//! A request's timer is driven only under a claim taken through the store
//! ([`crate::store::Store::claim_timer`], [`crate::store::Store::claim_due`]): of replicas
//! racing for it, one gets it; its holder renews it every third of
//! [`super::Settings::claim_lease`] while it works, and a claim whose holder died ends and is
//! taken over. Each process arms one task per timer it knows of (its own, those stored when it
//! started, and every reconciler sweep's), which wakes at the exact time and claims; a poll every
//! [`super::Settings::claim_poll`] claims what is due and driven by nobody (armed by another
//! replica, or left by one that died). Work in progress (deciding, provisioning) keeps its
//! deadline ahead on the same beat ([`crate::store::Store::hold_deadlines`]). Driving is
//! idempotent (teardown deletes what is there, transitions are compare-and-set), and each effect
//! is audited once: by whoever deleted the object, by whoever won the move.
//!
//! A teardown that fails is retried until it succeeds: the first retry after `retry_interval`,
//! each next one after twice the wait before, at most `retry_max_interval` (and a revoked
//! grant's retry no later than its `expires_at`). Every failure is counted, logged and audited
//! (a `state_changed` event saying which attempt failed and when the next is: an expired grant's
//! first failure moves it from `active` to `expiring`, later ones keep the state), and the next
//! attempt's time is stored as the request's due time, so any replica arms it again.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::{Error, Inner, Workflow, actor, after, lock, new_error_id, now};
use crate::audit::Details;
use crate::domain::RequestState;
use crate::store::{self, RequestRecord};
use crate::workflow::ClusterFailure;

/// The most due timers one poll claims.
const POLL_LIMIT: u32 = 256;

/// A timer task of this process, and what wakes it before its time.
pub(super) struct Armed {
    pub(super) task: AbortHandle,
    wake: Arc<Notify>,
}

/// What one look at a due request found.
enum Step {
    /// Nothing left to do.
    Done,
    /// Look again at this time.
    At(Timestamp),
    /// The teardown failed; retry.
    Failed(Error),
    /// A task of this process works on it: leave it (its deadline is kept ahead).
    Leave,
}

/// Sleeps until `at` (at once if it is past).
async fn sleep_until(at: Timestamp) {
    let wait = Duration::try_from(at.duration_since(now())).unwrap_or_default();
    tokio::time::sleep(wait).await;
}

/// Sleeps until `at`, or until `wake` is notified (a poll found the timer due sooner).
async fn sleep_or_wake(at: Timestamp, wake: &Notify) {
    tokio::select! {
        () = sleep_until(at) => {}
        () = wake.notified() => {}
    }
}

/// Marks a request's timer as driven by a task of this process, so that the heartbeat renews
/// its claim; unmarks it when dropped.
pub(super) struct Driving<'a> {
    inner: &'a Inner,
    id: String,
}

impl<'a> Driving<'a> {
    pub(super) fn new(inner: &'a Inner, id: &str) -> Self {
        *lock(&inner.driving).entry(id.to_owned()).or_default() += 1;
        Self {
            inner,
            id: id.to_owned(),
        }
    }
}

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        let mut driving = lock(&self.inner.driving);
        if let Some(count) = driving.get_mut(&self.id) {
            *count -= 1;
            if *count == 0 {
                driving.remove(&self.id);
            }
        }
    }
}

impl Workflow {
    /// Arms the timer of request `id` for `due_at` (at once if it is past), replacing the one
    /// it had.
    pub(super) fn arm(&self, id: &str, due_at: Timestamp) {
        self.arm_unless(id, due_at, false);
    }

    /// Drives request `id` now: wakes the timer this process has for it (never cancelling
    /// one that is driving it), or arms one; nothing if this process is working on the
    /// request. Returns whether it armed one.
    fn arm_if_idle(&self, id: &str) -> bool {
        if lock(&self.inner.in_flight).contains(id) {
            return false;
        }
        self.arm_unless(id, now(), true)
    }

    /// Arms the timer of `id` for `due_at`, replacing the one it had, unless `wake` (then the
    /// one it had is woken instead; checked under one lock); returns whether it armed.
    fn arm_unless(&self, id: &str, due_at: Timestamp, wake: bool) -> bool {
        // Held until the handle is stored, so that a task that ends at once finds it.
        let mut timers = lock(&self.inner.timers);
        if wake && let Some(armed) = timers.get(id) {
            armed.wake.notify_one();
            return false;
        }
        let workflow = self.clone();
        let owned = id.to_owned();
        let wake = Arc::new(Notify::new());
        let woken = wake.clone();
        let task = tokio::spawn(async move {
            sleep_or_wake(due_at, &woken).await;
            workflow.drive(&owned, &woken).await;
            let mut timers = lock(&workflow.inner.timers);
            if timers
                .get(&owned)
                .is_some_and(|timer| timer.task.id() == tokio::task::id())
            {
                timers.remove(&owned);
            }
        });
        let armed = Armed {
            task: task.abort_handle(),
            wake,
        };
        if let Some(previous) = timers.insert(id.to_owned(), armed) {
            previous.task.abort();
        }
        true
    }

    /// Cancels the timer of request `id`, if any.
    pub(super) fn disarm(&self, id: &str) {
        if let Some(timer) = lock(&self.inner.timers).remove(id) {
            timer.task.abort();
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

    /// Claims what is due and driven by nobody, and drives it; returns how many timers it
    /// claimed.
    pub(super) async fn poll_due(&self) -> store::Result<usize> {
        let claimed = self.inner.store.claim_due(self.claim(), POLL_LIMIT).await?;
        for timer in &claimed {
            // A task of this process that has it drives it under the same claim.
            self.arm_if_idle(&timer.id);
        }
        Ok(claimed.len())
    }

    /// One beat of work in progress: moves the deadlines of the requests this process is
    /// deciding or provisioning ahead, and renews its claims on the timers it drives.
    pub(super) async fn heartbeat(&self) -> store::Result<()> {
        let store = &self.inner.store;
        let in_flight: Vec<String> = lock(&self.inner.in_flight).iter().cloned().collect();
        if !in_flight.is_empty() {
            store.hold_deadlines(&in_flight, self.claim()).await?;
        }
        let driving: Vec<String> = lock(&self.inner.driving).keys().cloned().collect();
        if !driving.is_empty() {
            store.renew_claims(&driving, self.claim()).await?;
        }
        Ok(())
    }

    /// Drives request `id` on, under a claim, until nothing is left to do here (see the
    /// module's doc).
    async fn drive(&self, id: &str, wake: &Notify) {
        let _driving = Driving::new(&self.inner, id);
        let store = &self.inner.store;
        let retry = self.inner.settings.retry_interval;
        let mut failures = 0;
        loop {
            // A timer another replica moved later is slept on, not claimed.
            match store.due_at(id).await {
                Ok(Some(at)) if at > now() => {
                    sleep_or_wake(at, wake).await;
                    continue;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(store::Error::NotFound(_)) => return,
                Err(error) => {
                    tracing::error!(request_id = %id, %error, "cannot read a due time");
                    tokio::time::sleep(retry).await;
                    continue;
                }
            }
            match store.claim_timer(id, self.claim()).await {
                Ok(Some(_)) => {}
                // Another replica drives it; if it dies, its claim ends and a poll takes over.
                Ok(None) => return,
                Err(error) => {
                    tracing::error!(request_id = %id, %error, "cannot claim a due timer");
                    tokio::time::sleep(retry).await;
                    continue;
                }
            }
            let record = match store.get_request(id).await {
                Ok(record) => record,
                Err(store::Error::NotFound(_)) => return,
                Err(error) => {
                    tracing::error!(request_id = %id, %error, "cannot read a due request");
                    tokio::time::sleep(retry).await;
                    continue;
                }
            };
            let next = match self.step(&record).await {
                Step::Done => {
                    self.inner.metrics.teardown_settled(id);
                    return;
                }
                Step::Leave => {
                    if let Err(error) = store.release_claim(id, &self.inner.settings.replica).await
                    {
                        tracing::warn!(request_id = %id, %error, "cannot release a claim");
                    }
                    return;
                }
                Step::At(at) => at,
                Step::Failed(error) => {
                    failures += 1;
                    self.retry_later(&record, failures, &error).await
                }
            };
            sleep_or_wake(next, wake).await;
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
            RequestState::Received | RequestState::Approved | RequestState::Provisioning
                if lock(&self.inner.in_flight).contains(id) =>
            {
                return Step::Leave;
            }
            RequestState::Provisioning => (
                RequestState::Failed,
                actor("teardown"),
                Some("provisioning was interrupted; what it created was rolled back"),
            ),
            RequestState::Received | RequestState::Approved => {
                // Nothing was created yet.
                return match self.fail_unprovisioned(record).await {
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

    async fn fail_unprovisioned(&self, record: &RequestRecord) -> Result<(), Error> {
        let moved = self
            .inner
            .store
            .transition_due(
                store::Transition {
                    id: &record.id,
                    from: record.state,
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
