//! The store on a real PostgreSQL (`tests/src/postgres.rs`): the conformance suite every
//! store passes, each check on a fresh database of one shared server; what only several
//! replicas on one database need (two stores racing extend one chain, a fork is unstorable,
//! the log is append-only); and an outage: while the server is down every store operation
//! fails as unavailable within the connect timeout and the API answers 503 with a JSON error,
//! and everything works again once the server is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wicket::audit::{self, Actor, Details};
use wicket::config::Config;
use wicket::store::conformance::{Fresh, denied, request};
use wicket::store::{self, PgStore, Store};
use wicket_tests::postgres::{self, Postgres};
use wicket_tests::tokens::token;
use wicket_tests::{Env, wait_for};

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");

/// A store on a new database of the shared server.
async fn open_fresh() -> (PgStore, String) {
    let pg = postgres::shared();
    let url = pg.create_database();
    let data = pg.data_config(&url);
    let store = PgStore::open(data.postgres.as_ref().unwrap())
        .await
        .expect("open the store on PostgreSQL");
    (store, url)
}

async fn fresh() -> Fresh {
    let (store, _) = open_fresh().await;
    Fresh {
        store: Arc::new(store),
        guard: Box::new(()),
    }
}

mod conformance {
    use super::fresh;

    wicket::store_conformance_tests!(fresh());
}

fn note(n: usize) -> Details {
    Details::AuthenticationFailed(audit::AuthenticationFailures::Single {
        code: "expired".into(),
        message: format!("event {n}"),
    })
}

/// The name of the database at `url`.
fn database(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// Two stores on one database (two replicas), each with 100 writers at once, extend one
/// chain: every event numbered once, each linked to the one before, verifying whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_writing_at_once_extend_one_chain() {
    let (a, url) = open_fresh().await;
    let pg = postgres::shared();
    let b = PgStore::open(pg.data_config(&url).postgres.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(a.installation(), b.installation(), "one installation");
    let actor = Actor::service("test");
    let mut writers = tokio::task::JoinSet::new();
    for n in 0..200 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        let actor = actor.clone();
        writers.spawn(async move { store.append_audit(None, &actor, &note(n)).await });
    }
    let mut seqs = Vec::new();
    while let Some(written) = writers.join_next().await {
        seqs.push(written.unwrap().expect("every write is answered").seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<i64>>());
    for store in [&a, &b] {
        let report = audit::verify(store, Vec::new()).await.unwrap();
        assert!(report.is_intact(), "{report}");
        assert_eq!(report.events, 200);
    }
    assert!(
        a.write_stats().batches < 100 || b.write_stats().batches < 100,
        "writes were grouped: {:?} {:?}",
        a.write_stats(),
        b.write_stats()
    );
    a.close().await;
    b.close().await;
}

/// A second event after the same one (a fork), or at a taken position, cannot be stored;
/// stored events cannot be changed, removed or truncated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_is_unstorable_and_the_log_append_only() {
    let (store, url) = open_fresh().await;
    denied(&store, &request("r1"), "alice").await;
    let pg = postgres::shared();
    let db = database(&url);
    let copy_of = |seq: i64, prev: &str| {
        format!(
            "INSERT INTO audit_events (seq, time, kind, request_id, actor, details, prev_hash, hash)
             SELECT {seq}, time, kind, request_id, actor, details, {prev}, 'forged'
             FROM audit_events WHERE seq = 3"
        )
    };
    for (forgery, constraint) in [
        (copy_of(4, "prev_hash"), "audit_events_prev_hash_key"),
        (copy_of(3, "'other'"), "audit_events_pkey"),
    ] {
        let message = pg.try_psql(db, &forgery).unwrap_err();
        assert!(message.contains(constraint), "{message}");
    }
    for change in [
        "UPDATE audit_events SET details = '{}' WHERE seq = 2",
        "DELETE FROM audit_events WHERE seq = 3",
        "TRUNCATE audit_events",
    ] {
        let message = pg.try_psql(db, change).unwrap_err();
        assert!(
            message.contains("audit events are append-only"),
            "{message}"
        );
    }
    assert_eq!(pg.psql(db, "SELECT count(*) FROM audit_events").trim(), "3");
    let report = audit::verify(&store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    store.close().await;
}

/// While the server is down, reads and writes fail as unavailable, each within the connect
/// timeout (plus slack), and nothing is half-written; once it is back, both work again on
/// the same store and the chain goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_unavailability_and_the_store_recovers() {
    let pg = Postgres::start();
    let url = pg.create_database();
    let data = pg.data_config(&url);
    let store = store::open(&data).await.expect("open");
    denied(&*store, &request("before"), "alice").await;
    pg.stop();
    let actor = Actor::service("test");
    let started = Instant::now();
    let read = store.get_request("before").await.unwrap_err();
    assert!(matches!(read, store::Error::Unavailable(_)), "{read}");
    let write = store
        .append_audit(None, &actor, &note(1))
        .await
        .unwrap_err();
    assert!(matches!(write, store::Error::Unavailable(_)), "{write}");
    // The connect timeout is 1 s: each failed within it and a generous margin, never a hang.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    pg.start_again();
    wait_for(
        "the store to answer again",
        Duration::from_secs(30),
        || async { store.get_request("before").await.is_ok() },
    )
    .await;
    denied(&*store, &request("after"), "alice").await;
    let report = audit::verify(&*store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.events, 6, "nothing of the failed write was stored");
    store.close().await;
}

/// `wicket serve` on PostgreSQL: requests are granted; with the database stopped, a request
/// and a read are answered 503 with a JSON error (not a hang, not a 500); once it is back,
/// requests are granted again and the audit chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_503_while_the_database_is_down() {
    let pg = Postgres::start();
    let url = pg.create_database();
    let env = Env::start("1h").await;
    let config = Config {
        data: pg.data_config(&url),
        ..env.config.clone()
    };
    let wicket = env.serve_with(&config, env.native_chain()).await;
    let alice = token("alice", &["sre"]);
    let (id, _) = wicket.grant(&alice, EDIT_PAYMENTS).await;

    pg.stop();
    for (method, path, body) in [
        ("POST", "/v1/requests".to_owned(), Some(EDIT_PAYMENTS)),
        ("GET", format!("/v1/requests/{id}"), None),
    ] {
        let started = Instant::now();
        let answer = wicket.call(method, &path, Some(&alice), body).await;
        let took = started.elapsed();
        assert_eq!(answer.status, 503, "{method} {path}: {}", answer.text);
        assert_eq!(answer.json["error"]["code"], "database_unavailable");
        assert_eq!(
            answer.json["error"]["message"],
            "the database is unavailable; nothing was changed, retry later"
        );
        // The connect timeout is 1 s; generous slack for a shared machine, never a hang.
        assert!(
            took < Duration::from_secs(10),
            "{method} {path} took {took:?}"
        );
    }

    pg.start_again();
    wait_for(
        "requests to be granted again",
        Duration::from_secs(30),
        || async {
            let answer = wicket
                .call("POST", "/v1/requests", Some(&alice), Some(EDIT_PAYMENTS))
                .await;
            answer.status == 201
        },
    )
    .await;
    let store = wicket.service.workflow().store();
    assert_eq!(
        store.get_request(&id).await.unwrap().state.as_str(),
        "active"
    );
    let report = audit::verify(&**store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
    wicket.stop().await;
}

/// `wicket store migrate` copies a SQLite installation into PostgreSQL: every request,
/// object and promotion, the installation id, and the audit chain byte for byte (`wicket
/// audit verify` passes on both and ends at the same hash); a second copy into the now used
/// database is refused and changes nothing.
#[test]
fn store_migrate_copies_a_sqlite_installation_with_its_chain() {
    use clap::Parser;
    use wicket::cli::{Cli, run};
    use wicket::domain::{Kind, ObjectRef};
    use wicket::policy::set::Promotion;
    use wicket::store::SqliteStore;
    use wicket::store::conformance::activate;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wicket.db");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (installation, sqlite_rows) = runtime.block_on(async {
        let sqlite = SqliteStore::open(&file).await.unwrap();
        let actor = Actor::service("test");
        denied(&sqlite, &request("refused"), "bob").await;
        activate(
            &sqlite,
            "granted",
            jiff::Timestamp::from_second(1_900_000_000).unwrap(),
        )
        .await;
        let sa = ObjectRef {
            kind: Kind::ServiceAccount,
            namespace: Some("wicket".into()),
            name: "jit-granted".into(),
        };
        sqlite.record_object("granted", &sa, &actor).await.unwrap();
        sqlite
            .save_promotion(
                &Promotion {
                    cluster: "prod".into(),
                    entry: "groups".into(),
                    candidate: "/etc/wicket/next.wasm".into(),
                },
                &actor,
            )
            .await
            .unwrap();
        let rows = sqlite.stored_audit_rows(0, 1000).await.unwrap();
        let installation = sqlite.installation().to_owned();
        sqlite.close().await;
        (installation, rows)
    });
    let pg = postgres::shared();
    let url = pg.create_database();
    let password_file = pg.password_file();
    let migrate = |expected: &str| {
        let cli = Cli::parse_from([
            "wicket",
            "store",
            "migrate",
            "--from",
            dir.path().to_str().unwrap(),
            "--to",
            &url,
            "--password-file",
            password_file.to_str().unwrap(),
        ]);
        let code = run(cli);
        assert_eq!(format!("{code:?}"), expected, "wicket store migrate");
    };
    migrate(&format!("{:?}", std::process::ExitCode::SUCCESS));
    // The database now holds an installation: copying again is refused (exit 2).
    migrate(&format!("{:?}", std::process::ExitCode::from(2)));

    runtime.block_on(async {
        let copy = store::open(&pg.data_config(&url)).await.unwrap();
        assert_eq!(copy.installation(), installation, "the same installation");
        assert_eq!(
            copy.stored_audit_rows(0, 1000).await.unwrap(),
            sqlite_rows,
            "every audit row as stored"
        );
        let granted = copy.get_request("granted").await.unwrap();
        assert_eq!(granted.state.as_str(), "active");
        assert_eq!(
            copy.get_request("refused").await.unwrap().state.as_str(),
            "denied"
        );
        assert_eq!(copy.objects_of("granted", true).await.unwrap().len(), 1);
        assert_eq!(copy.promotions().await.unwrap().len(), 1);
        let report = audit::verify(&*copy, Vec::new()).await.unwrap();
        assert!(report.is_intact(), "{report}");
        // The chain goes on from the copied head.
        let next = copy
            .append_audit(None, &Actor::service("test"), &note(1))
            .await
            .unwrap();
        assert_eq!(next.seq, sqlite_rows.len() as i64 + 1);
        assert_eq!(next.prev_hash, sqlite_rows.last().unwrap().hash);
        copy.close().await;
    });
}
