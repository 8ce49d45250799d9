//! Several real `wicket serve` replicas on one PostgreSQL database with kube-sim and real
//! kubectl: any replica answers for any
//! request, a revoke on one is refused at once on the other, a replica killed with `kill -9`
//! under load loses nothing it answered and leaves one intact audit chain, and the grants of a
//! killed replica end (rolled back when it died mid-provisioning) on the one left; while the
//! database is down for 10 s both replicas answer 503 at once, and everything resumes by
//! itself when it returns, with nothing answered lost.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kube_sim::{FaultAction, FaultRule};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use wicket_tests::kubectl;
use wicket_tests::replicas::{
    Database, Endpoint, Replicas, effects_audited_twice, events_by_request,
};
use wicket_tests::tokens::token;
use wicket_tests::wait_for;

/// A request `alice` (in `sre`) is granted.
fn edit_payments(duration: &str) -> String {
    json!({
        "cluster": "dev",
        "namespaces": ["payments"],
        "role": "edit",
        "duration": duration,
        "reason": "INC-123: payments are failing"
    })
    .to_string()
}

/// One test per test function, `postgres::<test>`, each calling the function of the test's
/// name with a new database of the shared PostgreSQL server (`tests/src/postgres.rs`): the
/// topology of several replicas (`docs/high-availability.md`).
macro_rules! on_every_database {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            use super::Database;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let pg = wicket_tests::postgres::shared();
                    super::$name(Database::Postgres {
                        url: pg.create_database(),
                        password_file: Some(pg.password_file()),
                    })
                    .await;
                }
            )*
        }
    };
}

on_every_database!(
    a_revoke_on_one_replica_is_refused_at_once_on_the_other,
    requests_answered_by_either_replica_are_found_on_the_other,
    a_replica_killed_under_load_loses_nothing_it_answered,
    the_grants_of_a_killed_replica_end_on_the_other_and_nothing_is_left,
);

/// Generous bound on anything that should happen within a second or two.
const BOUND: Duration = Duration::from_secs(60);

async fn a_revoke_on_one_replica_is_refused_at_once_on_the_other(database: Database) {
    let replicas = Replicas::start(database, 2, "1h").await;
    let (a, b) = (replicas.get(0), replicas.get(1));
    let alice = token("alice", &["sre"]);
    let (id, _) = a.grant(&alice, &edit_payments("30m")).await;

    // B issues a kubeconfig for A's grant, and it works.
    let path = format!("/v1/requests/{id}/kubeconfig");
    let issued = b.call("GET", &path, Some(&alice), None).await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    let kubectl = kubectl::on_path(replicas.env.dir.path(), "alice", &issued.text);
    kubectl.ok(&["get", "pods", "-n", "payments"]).await;

    let revoked = a
        .call(
            "POST",
            &format!("/v1/requests/{id}/revoke"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(revoked.json["state"], "revoked", "{}", revoked.text);

    // The very next call on B, without waiting: refused, and the kubeconfig B issued is dead.
    let refused = b.call("GET", &path, Some(&alice), None).await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("revoked")),
        "{}",
        refused.text
    );
    let after = kubectl.run(&["get", "pods", "-n", "payments"]).await;
    assert!(!after.success, "a revoked grant's kubeconfig still works");
    assert!(
        after.stderr.contains("Unauthorized") || after.stderr.contains("401"),
        "{}",
        after.stderr
    );
    assert_eq!(b.request(&alice, &id).await.json["state"], "revoked");
    assert_eq!(replicas.env.labelled_objects().await, Vec::<String>::new());
}

async fn requests_answered_by_either_replica_are_found_on_the_other(database: Database) {
    let replicas = Replicas::start(database, 2, "1h").await;
    let alice = token("alice", &["sre"]);
    let mallory = token("mallory", &["developers"]);
    let mut answered = Vec::new();
    for round in 0..6 {
        let (to, other) = (round % 2, (round + 1) % 2);
        let (who, expected) = if round % 3 == 2 {
            (&mallory, (403, "denied"))
        } else {
            (&alice, (201, "active"))
        };
        let created = replicas
            .get(to)
            .call(
                "POST",
                "/v1/requests",
                Some(who),
                Some(&edit_payments("30m")),
            )
            .await;
        assert_eq!(created.status, expected.0, "{}", created.text);
        // A denial answers the stored request too (its id is in the error body's `request`).
        let id = created.json["id"]
            .as_str()
            .or_else(|| created.json["error"]["request_id"].as_str())
            .unwrap_or_else(|| panic!("an id in {}", created.text))
            .to_owned();
        let seen = replicas.get(other).request(who, &id).await;
        assert_eq!(seen.status, 200, "{}", seen.text);
        assert_eq!(seen.json["state"], expected.1, "{}", seen.text);
        answered.push((id, expected.1));
    }

    // Both serve one log: the same events, with the same hashes, in the same order.
    let (log_a, log_b) = (replicas.get(0).audit().await, replicas.get(1).audit().await);
    assert_eq!(log_a, log_b);
    let by_request = events_by_request(&log_a);
    for (id, state) in &answered {
        let kinds: Vec<&str> = by_request[id]
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default())
            .collect();
        assert!(
            kinds.contains(&"request_received") && kinds.contains(&"verdict"),
            "{id}: {kinds:?}"
        );
        assert!(
            by_request[id]
                .iter()
                .any(|e| e["kind"] == "state_changed" && e["details"]["to"] == *state),
            "{id} has no `state_changed` to `{state}`"
        );
    }
    assert_eq!(effects_audited_twice(&log_a), Vec::<String>::new());
    let (code, printed) = replicas.audit_verify();
    assert_eq!(code, Some(0), "{printed}");
}

/// What one load client got answered.
#[derive(Debug)]
struct Answered {
    replica: String,
    id: String,
    state: String,
}

/// Sends requests alternately to `endpoints` from `clients` clients, each `per_client` times
/// (granted for `duration` to `load-<client>` in `sre`, and every fourth one denied), until
/// done; a replica that does not answer is skipped. Every 2xx/403 answer is returned;
/// `answered_by` counts each replica's 2xx answers.
async fn load(
    endpoints: Vec<Endpoint>,
    clients: usize,
    per_client: usize,
    duration: String,
    answered_by: Arc<Vec<AtomicUsize>>,
    stop: Arc<AtomicBool>,
) -> Vec<Answered> {
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let endpoints = endpoints.clone();
        let answered_by = answered_by.clone();
        let stop = stop.clone();
        let grant = token(&format!("load-{client}"), &["sre"]);
        let deny = token(&format!("outsider-{client}"), &["developers"]);
        let body = edit_payments(&duration);
        tasks.spawn(async move {
            let mut answered = Vec::new();
            for n in 0..per_client {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let index = (client + n) % endpoints.len();
                let endpoint = &endpoints[index];
                let who = if n % 4 == 3 { &deny } else { &grant };
                let Some(answer) = endpoint
                    .try_call("POST", "/v1/requests", Some(who), Some(&body))
                    .await
                else {
                    continue;
                };
                let id = answer.json["id"]
                    .as_str()
                    .or_else(|| answer.json["error"]["request_id"].as_str());
                match (answer.status, id) {
                    (200..=299, Some(id)) => {
                        answered_by[index].fetch_add(1, Ordering::Relaxed);
                        answered.push(Answered {
                            replica: endpoint.name.clone(),
                            id: id.to_owned(),
                            state: answer.json["state"].as_str().unwrap_or_default().to_owned(),
                        });
                    }
                    (403, Some(id)) => answered.push(Answered {
                        replica: endpoint.name.clone(),
                        id: id.to_owned(),
                        state: "denied".to_owned(),
                    }),
                    (status, _) => {
                        panic!("{}: unexpected {status}: {}", endpoint.name, answer.text)
                    }
                }
            }
            answered
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.expect("a load client"));
    }
    all
}

/// Slows every RoleBinding creation on kube-sim, so that load keeps provisionings in flight
/// when a replica is killed.
fn slow_provisioning(replicas: &Replicas) {
    replicas.env.sim.faults().add(
        FaultRule::new(FaultAction::Latency { millis: 150 })
            .verb("create")
            .resource("rolebindings"),
    );
}

/// Starts load on both replicas, kills replica 0 with `kill -9` once it has answered
/// `before_kill` grants, and lets the load run on: every answer.
async fn load_and_kill(
    replicas: &mut Replicas,
    clients: usize,
    per_client: usize,
    before_kill: usize,
    duration: &str,
) -> Vec<Answered> {
    let endpoints = vec![replicas.get(0).endpoint(), replicas.get(1).endpoint()];
    let answered_by = Arc::new(vec![AtomicUsize::new(0), AtomicUsize::new(0)]);
    let stop = Arc::new(AtomicBool::new(false));
    let running = tokio::spawn(load(
        endpoints,
        clients,
        per_client,
        duration.to_owned(),
        answered_by.clone(),
        stop.clone(),
    ));
    let counted = answered_by.clone();
    wait_for(
        "replica 0 to answer grants under load",
        Duration::from_secs(300),
        || {
            let counted = counted.clone();
            async move { counted[0].load(Ordering::Relaxed) >= before_kill }
        },
    )
    .await;
    replicas.kill(0);
    let answered_by_b = answered_by[1].load(Ordering::Relaxed);
    wait_for(
        "replica 1 to answer after the kill",
        Duration::from_secs(300),
        || {
            let counted = answered_by.clone();
            let running = running.is_finished();
            async move { running || counted[1].load(Ordering::Relaxed) > answered_by_b + 4 }
        },
    )
    .await;
    let answered = running.await.expect("the load");
    let killed = &replicas.get(0).name;
    assert!(
        answered.iter().any(|a| &a.replica == killed),
        "the killed replica answered nothing"
    );
    answered
}

/// Checks that every answered request is stored as answered, with its events, on `survivor`,
/// that no effect is audited twice and that `wicket audit verify` passes: the log.
async fn nothing_answered_is_lost(replicas: &Replicas, answered: &[Answered]) -> Vec<Value> {
    let survivor = replicas.get(1);
    let stored: BTreeMap<String, Value> = survivor
        .requests(None)
        .await
        .into_iter()
        .map(|r| (r["id"].as_str().expect("an id").to_owned(), r))
        .collect();
    let log = survivor.audit().await;
    let by_request = events_by_request(&log);
    for a in answered {
        let record = stored
            .get(&a.id)
            .unwrap_or_else(|| panic!("{} answered {} but it is not stored", a.replica, a.id));
        let events = by_request.get(&a.id).cloned().unwrap_or_default();
        let kinds: BTreeSet<&str> = events
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default())
            .collect();
        assert!(
            kinds.contains("request_received") && kinds.contains("verdict"),
            "{}: {kinds:?}",
            a.id
        );
        assert!(
            events
                .iter()
                .any(|e| e["kind"] == "state_changed" && e["details"]["to"] == a.state),
            "{} answered {} `{}`, and no event says so; stored `{}`",
            a.replica,
            a.id,
            a.state,
            record["state"]
        );
        if a.state == "active" {
            assert!(kinds.contains("object_created"), "{}: {kinds:?}", a.id);
        }
    }
    assert_eq!(effects_audited_twice(&log), Vec::<String>::new());
    let (code, printed) = replicas.audit_verify();
    assert_eq!(code, Some(0), "{printed}");
    log
}

async fn a_replica_killed_under_load_loses_nothing_it_answered(database: Database) {
    let mut replicas = Replicas::start(database, 2, "1h").await;
    slow_provisioning(&replicas);
    let answered = load_and_kill(&mut replicas, 8, 12, 10, "30m").await;
    assert!(
        answered.iter().filter(|a| a.state == "active").count() >= 10,
        "{answered:?}"
    );
    nothing_answered_is_lost(&replicas, &answered).await;
}

/// Correct once timers are claimed through the database (a dead replica's due work is taken
/// over by a poll, not by the reconciler, whose sweep here runs hourly).
async fn the_grants_of_a_killed_replica_end_on_the_other_and_nothing_is_left(database: Database) {
    let mut replicas = Replicas::start(database, 2, "1h").await;
    slow_provisioning(&replicas);
    let answered = load_and_kill(&mut replicas, 6, 8, 6, "5s").await;
    let survivor = replicas.get(1);
    let auditor = token("ada", &["auditors"]);
    for a in answered.iter().filter(|a| a.state == "active") {
        let path = format!("/v1/requests/{}", a.id);
        wait_for(
            &format!("{} (answered by {}) to expire", a.id, a.replica),
            Duration::from_secs(120),
            || {
                let request = survivor.call("GET", &path, Some(&auditor), None);
                async move { request.await.json["state"] == "expired" }
            },
        )
        .await;
    }
    // Provisionings the kill interrupted are rolled back and failed; nothing stays half-way.
    for state in ["received", "approved", "provisioning", "active", "expiring"] {
        wait_for(
            &format!("no request left `{state}`"),
            Duration::from_secs(120),
            || async move { survivor.requests(Some(state)).await.is_empty() },
        )
        .await;
    }
    wait_for("no object left on the cluster", BOUND, || async {
        replicas.env.labelled_objects().await.is_empty()
    })
    .await;
    let log = nothing_answered_is_lost(&replicas, &answered).await;
    // Every object created was deleted (and, by `nothing_answered_is_lost`, only once).
    let objects = |kind: &str| -> BTreeSet<String> {
        log.iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| format!("{} {}", e["request_id"], e["details"]["object"]))
            .collect()
    };
    let (created, deleted) = (objects("object_created"), objects("object_deleted"));
    let left: Vec<_> = created.difference(&deleted).collect();
    assert!(left.is_empty(), "created and never deleted: {left:?}");
}

/// PostgreSQL stopped for 10 s under load on both replicas: every call answers (2xx, 403, or
/// 503 `database_unavailable` while it is down, never a hang), both replicas serve again by
/// themselves once it is back, and nothing answered before, during or after is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_503_then_full_recovery_with_nothing_lost() {
    // A server of its own: stopping the shared one would fail the other tests.
    let pg = wicket_tests::postgres::Postgres::start();
    let database = Database::Postgres {
        url: pg.create_database(),
        password_file: Some(pg.password_file()),
    };
    let replicas = Replicas::start(database, 2, "1h").await;
    let endpoints = vec![replicas.get(0).endpoint(), replicas.get(1).endpoint()];
    let stop = Arc::new(AtomicBool::new(false));
    let unavailable = Arc::new(AtomicUsize::new(0));
    let mut clients = JoinSet::new();
    for client in 0..4 {
        let (endpoints, stop, unavailable) = (endpoints.clone(), stop.clone(), unavailable.clone());
        let who = token(&format!("outage-{client}"), &["sre"]);
        clients.spawn(async move {
            let mut answered = Vec::new();
            let mut n = client;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let endpoint = &endpoints[n % endpoints.len()];
                let sent = std::time::Instant::now();
                let answer = endpoint
                    .try_call(
                        "POST",
                        "/v1/requests",
                        Some(&who),
                        Some(&edit_payments("1h")),
                    )
                    .await
                    .unwrap_or_else(|| panic!("{} did not answer", endpoint.name));
                let took = sent.elapsed();
                assert!(
                    took < Duration::from_secs(15),
                    "{} took {took:?}",
                    endpoint.name
                );
                match answer.status {
                    201 => answered.push(Answered {
                        replica: endpoint.name.clone(),
                        id: answer.json["id"].as_str().expect("an id").to_owned(),
                        state: answer.json["state"].as_str().unwrap_or_default().to_owned(),
                    }),
                    503 => {
                        assert_eq!(
                            answer.json["error"]["code"], "database_unavailable",
                            "{}",
                            answer.text
                        );
                        unavailable.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    status => panic!("{}: unexpected {status}: {}", endpoint.name, answer.text),
                }
            }
            answered
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.stop();
    let counted = unavailable.clone();
    wait_for("503s while the database is down", BOUND, || {
        let counted = counted.clone();
        async move { counted.load(Ordering::Relaxed) >= 4 }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    pg.start_again();
    // Both replicas grant again by themselves.
    let alice = token("alice", &["sre"]);
    for endpoint in &endpoints {
        wait_for(
            &format!("{} to grant again", endpoint.name),
            BOUND,
            || async {
                endpoint
                    .try_call(
                        "POST",
                        "/v1/requests",
                        Some(&alice),
                        Some(&edit_payments("1h")),
                    )
                    .await
                    .is_some_and(|answer| answer.status == 201)
            },
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut answered = Vec::new();
    while let Some(done) = clients.join_next().await {
        answered.extend(done.expect("an outage client"));
    }
    assert!(!answered.is_empty(), "nothing was granted");
    nothing_answered_is_lost(&replicas, &answered).await;
}
