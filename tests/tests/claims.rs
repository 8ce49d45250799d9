//! Two `wicket serve` replicas (two services in this process, each with its own store handle,
//! writer and timers) on one SQLite file and one kube-sim: every timer fires once, somewhere.
//! A grant whose replica is killed ends on time on the other; with both alive each grant ends
//! once, every object's deletion audited once; a replica killed mid-provisioning is rolled
//! back by the other, leaving no orphan.

use std::time::Duration;

use kube_sim::{FaultAction, FaultRule};
use serde_json::json;
use wicket::audit::AuditEvent;
use wicket_tests::tokens::token;
use wicket_tests::{Env, Running, wait_for};

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");

/// How late after `expires_at` a grant may end here: generous (a loaded machine), the
/// benchmark measures the real figure.
const LATE: jiff::SignedDuration = jiff::SignedDuration::from_secs(15);

fn with_duration(duration: &str) -> String {
    let mut body: serde_json::Value = serde_json::from_str(EDIT_PAYMENTS).unwrap();
    body["duration"] = json!(duration);
    body.to_string()
}

/// Asks `wicket` for a grant of `duration` as alice: its id and `expires_at`.
async fn grant(wicket: &Running, duration: &str) -> (String, jiff::Timestamp) {
    let alice = token("alice", &["sre"]);
    let created = wicket
        .call(
            "POST",
            "/v1/requests",
            Some(&alice),
            Some(&with_duration(duration)),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["state"], "active", "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let expires_at = created.json["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    (id, expires_at)
}

async fn events(wicket: &Running, id: &str) -> Vec<AuditEvent> {
    let store = wicket.service.workflow().store();
    store.audit_events_of(id, 1000).await.unwrap()
}

fn count(events: &[AuditEvent], kind: &str) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

/// The grant `id` ended once, by its expiry, not before `expires_at` nor much after, each
/// object it created deleted (and audited) once.
async fn ended_once(wicket: &Running, id: &str, expires_at: jiff::Timestamp) {
    let events = events(wicket, id).await;
    let expired: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "state_changed" && e.details["to"] == "expired")
        .collect();
    assert_eq!(expired.len(), 1, "{events:#?}");
    assert_eq!(expired[0].actor["component"], "expiry");
    let late = expired[0].time.duration_since(expires_at);
    assert!(!late.is_negative(), "ended {late:?} before expires_at");
    assert!(late < LATE, "ended {late:?} after expires_at");
    let created = count(&events, "object_created");
    assert!(created >= 2, "{events:#?}");
    assert_eq!(count(&events, "object_deleted"), created, "{events:#?}");
}

#[tokio::test]
async fn a_grant_whose_replica_is_killed_ends_on_time_on_the_other() {
    let env = Env::start("1h").await;
    let a = env.serve(env.wasm_chain()).await;
    let b = env.serve(env.wasm_chain()).await;
    let (id, expires_at) = grant(&a, "3s").await;
    assert!(!env.labelled_objects().await.is_empty());
    a.kill();
    wait_for("b to end the grant", Duration::from_secs(120), || async {
        b.state(&id).await == "expired"
    })
    .await;
    ended_once(&b, &id, expires_at).await;
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    b.stop().await;
}

#[tokio::test]
async fn with_both_replicas_alive_each_grant_ends_once() {
    let env = Env::start("1h").await;
    let a = env.serve(env.wasm_chain()).await;
    let b = env.serve(env.wasm_chain()).await;
    let mut grants = Vec::new();
    for n in 0..4 {
        grants.push(grant(if n % 2 == 0 { &a } else { &b }, "3s").await);
    }
    // Each replica arms a timer for every grant: both wake at each expiry and race.
    a.service.workflow().reconcile().await.unwrap();
    b.service.workflow().reconcile().await.unwrap();
    for (id, _) in &grants {
        wait_for("the grant to expire", Duration::from_secs(120), || async {
            a.state(id).await == "expired"
        })
        .await;
    }
    for (id, expires_at) in &grants {
        ended_once(&a, id, *expires_at).await;
    }
    assert_eq!(env.labelled_objects().await, Vec::<String>::new());
    let report = wicket::audit::verify(&**a.service.workflow().store(), Vec::new())
        .await
        .unwrap();
    assert!(report.is_intact(), "{report}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_replica_killed_mid_provisioning_is_rolled_back_by_the_other() {
    let env = Env::start("1h").await;
    let a = env.serve(env.wasm_chain()).await;
    let b = env.serve(env.wasm_chain()).await;
    env.sim.faults().add(
        FaultRule::new(FaultAction::Hang)
            .verb("create")
            .resource("rolebindings"),
    );
    let base = a.base.clone();
    let alice = token("alice", &["sre"]);
    let hanging = tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .post(format!("{base}/v1/requests"))
            .bearer_auth(alice)
            .header("content-type", "application/json")
            .body(EDIT_PAYMENTS)
            .send()
            .await;
    });
    wait_for(
        "the service account to be created",
        Duration::from_secs(60),
        || async {
            env.labelled_objects()
                .await
                .iter()
                .any(|o| o.starts_with("ServiceAccount"))
        },
    )
    .await;
    let store = b.service.workflow().store().clone();
    let provisioning = store
        .requests_in_state(wicket::domain::RequestState::Provisioning)
        .await
        .unwrap();
    assert_eq!(provisioning.len(), 1);
    let id = provisioning[0].id.clone();
    // `a` is alive and at it: `b` leaves it alone, however long it takes.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(b.state(&id).await, "provisioning");
    a.kill();
    hanging.abort();
    wait_for("b to roll it back", Duration::from_secs(120), || async {
        b.state(&id).await == "failed"
    })
    .await;
    assert_eq!(
        env.labelled_objects().await,
        Vec::<String>::new(),
        "no orphan"
    );
    let events = events(&b, &id).await;
    let deleted: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "object_deleted")
        .collect();
    assert_eq!(deleted.len(), 1, "the service account, once: {deleted:#?}");
    assert_eq!(deleted[0].actor["component"], "teardown");
    b.stop().await;
}
