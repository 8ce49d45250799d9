//! The kill switch against the in-memory cluster: scopes, a grant that another task ends while
//! the switch runs, a failing teardown, requests in flight, and the audit trail.

use std::sync::Arc;

use super::tests::{allow, body, harness};
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
    let first = h.submit_as_alice().await;
    let racing = h.submit_as_alice().await;
    // The expiry timer of `racing` wins the race: it is expired just as the switch tears it
    // down, so the switch's own move to `revoked` finds it ended.
    let store = h.workflow.store().clone();
    let victim = racing.id.clone();
    *lock(&h.cluster.on_teardown) = Some(Arc::new(move |id: String| {
        let (store, victim) = (store.clone(), victim.clone());
        Box::pin(async move {
            if id == victim {
                store
                    .transition(Transition {
                        id: &id,
                        from: RequestState::Active,
                        to: RequestState::Expired,
                        actor: &actor("expiry"),
                        note: None,
                        detail: None,
                        expires_at: None,
                    })
                    .await
                    .unwrap();
            }
        })
    }));
    let done = h
        .workflow
        .revoke_in_scope(&admin(), RevocationScope::All)
        .await
        .unwrap();
    assert_eq!(ids(&done.revoked), [first.id.as_str()]);
    assert_eq!(ids(&done.ended), [racing.id.as_str()]);
    assert_eq!(done.ended[0].state, RequestState::Expired);
    assert!(done.failed.is_empty(), "{:?}", done.failed);
}

#[tokio::test]
async fn a_failed_teardown_is_reported_and_the_grant_keeps_its_timer() {
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
    let reason = done.failed[0].error.as_deref().unwrap();
    assert!(
        reason.starts_with("cluster `dev` could not tear the grant down"),
        "{reason}"
    );
    assert!(
        !reason.contains("500"),
        "the api server's words stay in the log"
    );
    assert_eq!(state(&h.workflow, &stuck.id).await, RequestState::Active);
    assert_eq!(
        h.workflow.armed_timers(),
        1,
        "the failed grant still expires"
    );
    let all = h.workflow.store().audit_events(0, 1000).await.unwrap();
    assert_eq!(all.last().unwrap().details["failed"], 1);

    // Once the cluster answers again, the switch ends it.
    *lock(&h.cluster.fail_teardown) = None;
    let again = h
        .workflow
        .revoke_in_scope(&admin(), RevocationScope::All)
        .await
        .unwrap();
    assert_eq!(ids(&again.revoked), [stuck.id.as_str()]);
    assert_eq!(h.workflow.armed_timers(), 0);
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
