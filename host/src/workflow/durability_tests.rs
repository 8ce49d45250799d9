//! A workflow that survives cancellation and outages, against the in-memory cluster: revokes
//! and expiries whose teardown fails are retried until done, stored due times are armed again
//! after a restart and by the reconciler, and work a caller abandons or that panics ends in a
//! final state with nothing left on the cluster.

use std::sync::Arc;
use std::time::Duration;

use super::tests::{Fixed, allow, body, eventually, harness, harness_with, object, settings};
use super::*;
use crate::store::tests::identity;

async fn state(workflow: &Workflow, id: &str) -> RequestState {
    workflow.store().get_request(id).await.unwrap().state
}

fn objects_of(h: &super::tests::Harness, id: &str) -> usize {
    lock(&h.cluster.objects)
        .iter()
        .filter(|o| o.request_id.as_deref() == Some(id))
        .count()
}

/// Stores request `id` as a grant that became `active` (with its due time) and puts its
/// ServiceAccount on the cluster, as a process that stopped before arming its timer left it.
async fn stored_active(h: &super::tests::Harness, id: &str, expires_at: Timestamp) {
    let store = h.workflow.store();
    let request = body()
        .validate(&h.workflow.inner.bounds, id.into(), now())
        .unwrap();
    store
        .insert_decided(store::Decided {
            request: &request,
            requester: &identity("alice"),
            decision: &allow().into(),
            modules: &[],
            to: RequestState::Approved,
            actor: &actor("policy"),
            also: &[],
            due_at: None,
        })
        .await
        .unwrap();
    for (from, to, expires, due) in [
        (
            RequestState::Approved,
            RequestState::Provisioning,
            None,
            after(now(), Duration::from_secs(60)),
        ),
        (
            RequestState::Provisioning,
            RequestState::Active,
            Some(expires_at),
            expires_at,
        ),
    ] {
        store
            .transition_due(
                Transition {
                    id,
                    from,
                    to,
                    actor: &actor("workflow"),
                    note: None,
                    detail: None,
                    expires_at: expires,
                },
                Some(due),
            )
            .await
            .unwrap();
    }
    lock(&h.cluster.objects).push(ManagedObject {
        object: object("ServiceAccount", "wicket-system", id),
        request_id: Some(id.into()),
        expires_at: Some(expires_at),
    });
}

fn restarted(h: &super::tests::Harness) -> Workflow {
    Workflow::new(
        h.workflow.store().clone(),
        Arc::new(Fixed(allow())),
        h.cluster.clone(),
        settings(),
    )
}

#[tokio::test]
async fn a_revoke_whose_teardown_fails_answers_revoking_and_is_retried_until_revoked() {
    let h = harness(allow()).await;
    let alice = identity("alice");
    let record = h.submit_as_alice().await;
    *lock(&h.cluster.fail_teardown) = Some(record.id.clone());
    let answered = h.workflow.revoke(&alice, &record.id, false).await.unwrap();
    assert_eq!(answered.state, RequestState::Revoking);
    assert!(
        matches!(
            h.workflow.kubeconfig(&alice, &record.id).await,
            Err(Error::Conflict(_))
        ),
        "no kubeconfig while revoking"
    );
    eventually("a few failed retries", async || {
        let events = h
            .workflow
            .store()
            .audit_events_of(&record.id, 100)
            .await
            .unwrap();
        events
            .iter()
            .filter(|e| {
                e.kind == "state_changed"
                    && e.details["from"] == "revoking"
                    && e.details["to"] == "revoking"
            })
            .count()
            >= 3
    })
    .await;
    let metrics = h.workflow.metrics().render(0, store::WriteStats::default());
    assert!(metrics.contains("wicket_teardowns_pending 1"), "{metrics}");
    assert_eq!(objects_of(&h, &record.id), 2, "still on the cluster");

    *lock(&h.cluster.fail_teardown) = None;
    eventually("the revocation to complete", async || {
        state(&h.workflow, &record.id).await == RequestState::Revoked
    })
    .await;
    assert_eq!(objects_of(&h, &record.id), 0);
    let events = h
        .workflow
        .store()
        .audit_events_of(&record.id, 100)
        .await
        .unwrap();
    let retry = events
        .iter()
        .find(|e| e.details["to"] == "revoking" && e.details["from"] == "revoking")
        .unwrap();
    let note = retry.details["note"].as_str().unwrap();
    assert!(note.starts_with("teardown attempt 1 failed"), "{note}");
    assert_eq!(retry.actor["component"], "teardown");
    eventually("the timer to end", async || h.workflow.armed_timers() == 0).await;
    let metrics = h.workflow.metrics().render(0, store::WriteStats::default());
    assert!(metrics.contains("wicket_teardowns_pending 0"), "{metrics}");
    assert!(
        !metrics.contains("wicket_teardown_retries_total 0\n"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failed_revoke_is_retried_at_the_grants_expiry_at_the_latest() {
    // Retries back off far beyond the grant's end: only its expiry brings the next attempt.
    let h = harness_with(
        allow(),
        Settings {
            retry_interval: Duration::from_secs(3600),
            retry_max_interval: Duration::from_secs(3600),
            ..settings()
        },
    )
    .await;
    let alice = identity("alice");
    let mut short = body();
    short.duration = DurationValue::Seconds(2);
    let record = h.workflow.submit(&alice, short).await.unwrap().record;
    let expires_at = record.expires_at.unwrap();
    *lock(&h.cluster.fail_teardown) = Some(record.id.clone());
    let answered = h.workflow.revoke(&alice, &record.id, false).await.unwrap();
    assert_eq!(answered.state, RequestState::Revoking);
    assert_eq!(
        h.workflow.store().due_at(&record.id).await.unwrap(),
        Some(expires_at),
        "the next attempt is at the grant's expiry"
    );
    *lock(&h.cluster.fail_teardown) = None;
    eventually("the revocation to complete", async || {
        state(&h.workflow, &record.id).await == RequestState::Revoked
    })
    .await;
    let late = now().duration_since(expires_at);
    assert!(
        late < jiff::SignedDuration::from_secs(5),
        "ended {late:?} after expires_at"
    );
    assert_eq!(objects_of(&h, &record.id), 0);
}

#[tokio::test]
async fn an_expiry_whose_teardown_fails_is_expiring_and_retried_until_expired() {
    let h = harness(allow()).await;
    let mut short = body();
    short.duration = DurationValue::Seconds(1);
    let record = h
        .workflow
        .submit(&identity("alice"), short)
        .await
        .unwrap()
        .record;
    *lock(&h.cluster.fail_teardown) = Some(record.id.clone());
    eventually("a failed expiry, retried", async || {
        h.workflow
            .store()
            .audit_events_of(&record.id, 100)
            .await
            .unwrap()
            .iter()
            .any(|e| e.details["from"] == "expiring" && e.details["to"] == "expiring")
    })
    .await;
    assert_eq!(state(&h.workflow, &record.id).await, RequestState::Expiring);
    let events = h
        .workflow
        .store()
        .audit_events_of(&record.id, 100)
        .await
        .unwrap();
    let first = events
        .iter()
        .find(|e| e.details["to"] == "expiring")
        .unwrap();
    assert_eq!(first.details["from"], "active");
    let note = first.details["note"].as_str().unwrap();
    assert!(note.starts_with("teardown attempt 1 failed"), "{note}");
    assert!(
        h.workflow
            .store()
            .due_at(&record.id)
            .await
            .unwrap()
            .unwrap()
            > record.expires_at.unwrap(),
        "the next attempt is stored"
    );
    *lock(&h.cluster.fail_teardown) = None;
    eventually("the expiry to complete", async || {
        state(&h.workflow, &record.id).await == RequestState::Expired
    })
    .await;
    assert_eq!(objects_of(&h, &record.id), 0);
    assert_eq!(h.workflow.store().due_at(&record.id).await.unwrap(), None);
}

/// The crash window between storing `active` and arming its timer: the next start arms it
/// from the stored due time, and the grant expires.
#[tokio::test]
async fn an_active_grant_stored_without_a_timer_expires_after_a_restart() {
    let h = harness(allow()).await;
    let expires_at = after(now(), Duration::from_secs(1));
    stored_active(&h, "cafe01", expires_at).await;
    assert_eq!(h.workflow.armed_timers(), 0, "the process stopped first");

    let again = restarted(&h);
    again.start().await.unwrap();
    assert_eq!(again.armed_timers(), 1, "armed from the stored due time");
    eventually("the expiry", async || {
        state(&again, "cafe01").await == RequestState::Expired
    })
    .await;
    assert_eq!(objects_of(&h, "cafe01"), 0);
    let events = again.store().audit_events_of("cafe01", 100).await.unwrap();
    let expired = events
        .iter()
        .find(|e| e.details["to"] == "expired")
        .unwrap();
    assert!(expired.time >= expires_at, "not before its time");
    again.shutdown();
}

#[tokio::test]
async fn a_revocation_a_crash_interrupted_is_completed_after_a_restart() {
    let h = harness(allow()).await;
    stored_active(&h, "cafe01", after(now(), Duration::from_secs(3600))).await;
    // The process stopped right after storing `revoking`, before any teardown.
    h.workflow
        .store()
        .transition_due(
            Transition {
                id: "cafe01",
                from: RequestState::Active,
                to: RequestState::Revoking,
                actor: &Actor::user(&identity("alice")),
                note: None,
                detail: None,
                expires_at: None,
            },
            Some(now()),
        )
        .await
        .unwrap();
    let again = restarted(&h);
    again.start().await.unwrap();
    eventually("the revocation", async || {
        state(&again, "cafe01").await == RequestState::Revoked
    })
    .await;
    assert_eq!(objects_of(&h, "cafe01"), 0);
    again.shutdown();
}

#[tokio::test]
async fn the_reconciler_arms_a_stored_due_time_that_has_no_timer() {
    let h = harness(allow()).await;
    h.workflow.start().await.unwrap();
    // Stored by another process (or left by a failed write) after this one started.
    stored_active(&h, "cafe01", after(now(), Duration::from_millis(500))).await;
    assert_eq!(h.workflow.armed_timers(), 0);
    let sweep = h.workflow.reconcile().await.unwrap();
    assert_eq!(sweep.armed, 1, "{sweep:?}");
    eventually("the expiry", async || {
        state(&h.workflow, "cafe01").await == RequestState::Expired
    })
    .await;
    assert_eq!(h.workflow.reconcile().await.unwrap().armed, 0);
    h.workflow.shutdown();
}

#[tokio::test]
async fn a_submit_whose_caller_goes_away_mid_provisioning_still_ends_active() {
    let h = harness(allow()).await;
    *lock(&h.cluster.provision_delay) = Some(Duration::from_millis(500));
    let workflow = h.workflow.clone();
    let caller = tokio::spawn(async move { workflow.submit(&identity("alice"), body()).await });
    eventually("provisioning to start", async || {
        !lock(&h.cluster.objects).is_empty()
    })
    .await;
    caller.abort(); // the client hung up: the handler's future is dropped
    let id = lock(&h.cluster.objects)[0].request_id.clone().unwrap();
    eventually("the grant to become active", async || {
        state(&h.workflow, &id).await == RequestState::Active
    })
    .await;
    assert_eq!(h.workflow.armed_timers(), 1, "its expiry is armed");
    assert_eq!(objects_of(&h, &id), 2);
}

#[tokio::test]
async fn a_provisioning_that_panics_fails_closed_and_is_rolled_back() {
    let h = harness(allow()).await;
    *lock(&h.cluster.provision_panics) = true;
    let answer = h.workflow.submit(&identity("alice"), body()).await;
    let Err(Error::Interrupted(id)) = answer else {
        panic!("a panic is no answer: {answer:?}");
    };
    eventually("the rollback", async || {
        state(&h.workflow, &id).await == RequestState::Failed
    })
    .await;
    assert_eq!(objects_of(&h, &id), 0, "what it created is gone");
    let failed = h.workflow.store().get_request(&id).await.unwrap();
    assert!(
        failed.error.as_deref().unwrap().contains("rolled back"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn a_provisioning_that_runs_out_of_time_is_rolled_back_and_failed() {
    let h = harness_with(
        allow(),
        Settings {
            provision_timeout: Duration::from_millis(300),
            ..settings()
        },
    )
    .await;
    *lock(&h.cluster.provision_delay) = Some(Duration::from_secs(3600));
    let submitted = h.workflow.submit(&identity("alice"), body()).await.unwrap();
    let record = submitted.record;
    assert_eq!(record.state, RequestState::Failed);
    assert!(
        record.error.as_deref().unwrap().contains("`timeout`"),
        "{record:?}"
    );
    assert_eq!(objects_of(&h, &record.id), 0, "rolled back");
    assert_eq!(h.workflow.store().due_at(&record.id).await.unwrap(), None);
}
