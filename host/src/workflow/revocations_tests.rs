//! The kill switch against the in-memory cluster: scopes, a grant that another task ends while
//! the switch runs, a failing teardown, requests in flight, and the audit trail.

use super::tests::{allow, body, eventually, harness};
use super::*;
use crate::audit::RevocationScope;
use crate::store::tests::identity;

fn admin() -> Identity {
    identity("root")
}

async fn state(workflow: &Workflow, id: &str) -> RequestState {
    workflow.store().get_request(id).await.unwrap().state
}

fn ids(items: &[RevocationItem]) -> Vec<&str> {
    items.iter().map(|i| i.id.as_str()).collect()
}

#[tokio::test]
async fn a_subject_scope_ends_that_subjects_grants_only() {
    let h = harness(allow()).await;
    let mallory = h.workflow.submit(&identity("mallory"), body()).await;
    let mallory = mallory.unwrap().record;
    let alice = h.workflow.submit(&identity("alice"), body()).await;
    let alice = alice.unwrap().record;
    let scope = RevocationScope::Subject {
        issuer: mallory.issuer.clone(),
        sub: "mallory".into(),
    };
    let done = h.workflow.revoke_in_scope(&admin(), scope).await.unwrap();
    assert_eq!(ids(&done.revoked), [mallory.id.as_str()]);
    assert!(done.failed.is_empty() && done.ended.is_empty() && done.in_flight.is_empty());
    assert_eq!(state(&h.workflow, &mallory.id).await, RequestState::Revoked);
    assert_eq!(state(&h.workflow, &alice.id).await, RequestState::Active);
    let left = lock(&h.cluster.objects).clone();
    assert!(
        left.iter()
            .all(|o| o.request_id.as_deref() == Some(&*alice.id)),
        "{left:?}"
    );
    assert_eq!(h.workflow.armed_timers(), 1, "alice's grant still expires");

    // The revocation is the normal one, by the admin, noted as the kill switch's.
    let events = h
        .workflow
        .store()
        .audit_events_of(&mallory.id, 100)
        .await
        .unwrap();
    let revoked = events
        .iter()
        .find(|e| e.kind == "state_changed" && e.details["to"] == "revoked")
        .expect("a revocation event");
    assert_eq!(revoked.actor["subject"], "root");
    let note = revoked.details["note"].as_str().unwrap();
    assert!(note.starts_with("kill switch: subject `mallory`"), "{note}");
    let all = h.workflow.store().audit_events(0, 1000).await.unwrap();
    let call = all.last().unwrap();
    assert_eq!(call.kind, "kill_switch");
    assert_eq!(call.actor["subject"], "root");
    assert_eq!(call.details["scope"]["subject"]["sub"], "mallory");
    assert_eq!(call.details["revoked"], 1);
    assert_eq!(call.details["failed"], 0);
}

#[tokio::test]
async fn a_cluster_scope_needs_a_configured_cluster() {
    let h = harness(allow()).await;
    let record = h.submit_as_alice().await;
    let unknown = h
        .workflow
        .revoke_in_scope(&admin(), RevocationScope::Cluster("prod".into()))
        .await;
    assert!(
        matches!(unknown, Err(Error::Invalid(Invalid::UnknownCluster(_)))),
        "{unknown:?}"
    );
    assert_eq!(state(&h.workflow, &record.id).await, RequestState::Active);
    let done = h
        .workflow
        .revoke_in_scope(&admin(), RevocationScope::Cluster("dev".into()))
        .await
        .unwrap();
    assert_eq!(ids(&done.revoked), [record.id.as_str()]);
}

#[tokio::test]
async fn a_grant_that_expires_meanwhile_is_reported_as_ended_not_failed() {
    let h = harness(allow()).await;
    let racing = h.submit_as_alice().await;
    // The expiry timer wins the race: the grant is expired after the switch listed it
    // `active` and before it moves it to `revoking`.
    h.workflow
        .store()
        .transition(Transition {
            id: &racing.id,
            from: RequestState::Active,
            to: RequestState::Expired,
            actor: &actor("expiry"),
            note: None,
            detail: None,
            expires_at: None,
        })
        .await
        .unwrap();
    let item = h
        .workflow
        .revoke_one(
            racing.clone(),
            &Actor::user(&admin()),
            "kill switch: every request",
        )
        .await;
    assert_eq!(item.state, RequestState::Expired);
    assert_eq!(item.error, None, "ended, not failed");
}

#[tokio::test]
async fn a_failed_teardown_is_reported_and_retried_until_the_grant_is_revoked() {
    let h = harness(allow()).await;
    let stuck = h.submit_as_alice().await;
    let other = h.submit_as_alice().await;
    *lock(&h.cluster.fail_teardown) = Some(stuck.id.clone());
    let done = h
        .workflow
        .revoke_in_scope(&admin(), RevocationScope::All)
        .await
        .unwrap();
    assert_eq!(ids(&done.revoked), [other.id.as_str()]);
    assert_eq!(ids(&done.failed), [stuck.id.as_str()]);
    assert_eq!(done.failed[0].state, RequestState::Revoking);
    let reason = done.failed[0].error.as_deref().unwrap();
    assert!(
        reason.starts_with("cluster `dev` could not tear the grant down yet"),
        "{reason}"
    );
    assert!(
        !reason.contains("500"),
        "the api server's words stay in the log"
    );
    assert_eq!(state(&h.workflow, &stuck.id).await, RequestState::Revoking);
    assert_eq!(h.workflow.armed_timers(), 1, "its teardown is retried");
    let all = h.workflow.store().audit_events(0, 1000).await.unwrap();
    assert_eq!(all.last().unwrap().details["failed"], 1);

    // Once the cluster answers again, the retry ends it, with no further call.
    *lock(&h.cluster.fail_teardown) = None;
    eventually("the retried teardown", async || {
        state(&h.workflow, &stuck.id).await == RequestState::Revoked
    })
    .await;
    assert!(lock(&h.cluster.objects).is_empty());
    eventually("the timer to end", async || h.workflow.armed_timers() == 0).await;
}

#[tokio::test]
async fn pending_requests_are_withdrawn_and_provisioning_ones_reported() {
    let h = harness(allow()).await;
    let alice = identity("alice");
    for (id, to) in [
        ("cafe01", RequestState::PendingApproval),
        ("cafe02", RequestState::Approved),
    ] {
        let request = body()
            .validate(&h.workflow.inner.bounds, id.into(), now())
            .unwrap();
        h.workflow
            .store()
            .insert_decided(crate::store::Decided {
                request: &request,
                requester: &alice,
                decision: &allow().into(),
                modules: &[],
                to,
                actor: &actor("policy"),
                also: &[],
                due_at: None,
            })
            .await
            .unwrap();
    }
    // `cafe02` is being provisioned by another replica.
    h.workflow
        .store()
        .transition(Transition {
            id: "cafe02",
            from: RequestState::Approved,
            to: RequestState::Provisioning,
            actor: &actor("workflow"),
            note: None,
            detail: None,
            expires_at: None,
        })
        .await
        .unwrap();
    let done = h
        .workflow
        .revoke_in_scope(&admin(), RevocationScope::All)
        .await
        .unwrap();
    assert_eq!(ids(&done.revoked), ["cafe01"]);
    assert_eq!(ids(&done.in_flight), ["cafe02"]);
    assert_eq!(done.in_flight[0].state, RequestState::Provisioning);
    assert_eq!(state(&h.workflow, "cafe01").await, RequestState::Revoked);
}

#[tokio::test]
async fn an_expired_grant_still_on_its_cluster_is_reported_as_failed() {
    let h = harness(allow()).await;
    let mut short = body();
    short.duration = DurationValue::Seconds(1);
    let stuck = h.workflow.submit(&identity("alice"), short).await.unwrap();
    let stuck = stuck.record;
    *lock(&h.cluster.fail_teardown) = Some(stuck.id.clone());
    eventually("a failed expiry", async || {
        state(&h.workflow, &stuck.id).await == RequestState::Expiring
    })
    .await;
    let done = h
        .workflow
        .revoke_in_scope(&admin(), RevocationScope::All)
        .await
        .unwrap();
    assert_eq!(ids(&done.failed), [stuck.id.as_str()]);
    assert_eq!(done.failed[0].state, RequestState::Expiring);
    let reason = done.failed[0].error.as_deref().unwrap();
    assert!(reason.starts_with("the grant has expired"), "{reason}");
    assert!(done.revoked.is_empty() && done.ended.is_empty());
}
