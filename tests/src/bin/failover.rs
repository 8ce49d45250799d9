//! Failover benchmark: how late grants end after their `expires_at` when the replica that made
//! them is killed (`kill -9`) just before they expire, beside the grants of the replicas left.
//! Runs kube-sim and real `wicket serve` replicas on one database (`tests/src/replicas.rs`), a
//! SQLite file unless `--postgres` (a server started for the run) or `--database-url` names a
//! PostgreSQL database. Not part of the test run; results go to `BENCHMARKS.md`.
//!
//! ```text
//! cargo build --release -p wicket-tests --bin failover -p wicket --bin wicket
//! ./target/release/failover --grants 40
//! ./target/release/failover --grants 40 --postgres
//! ```
//!
//! Lateness is the time of the grant's `state_changed` to `expired` in the audit log (written
//! when its teardown is stored) minus its `expires_at`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use jiff::Timestamp;
use serde_json::json;
use wicket_tests::postgres::Postgres;
use wicket_tests::replicas::{Database, Replicas, auditor};
use wicket_tests::tokens::token;

/// Measure how late grants end when their replica is killed.
#[derive(Debug, Parser)]
#[command(name = "failover")]
struct Args {
    /// Grants made on each replica
    #[arg(short, long, default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    grants: u32,
    /// Replicas (the first is killed)
    #[arg(short, long, default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(2..=8))]
    replicas: u32,
    /// Seconds each grant lasts
    #[arg(short, long, default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(5..=600))]
    duration: u64,
    /// Milliseconds before the first grant's expiry that the replica is killed (negative:
    /// after it, while it tears grants down under its claims)
    #[arg(long, default_value_t = 500, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(-5000..=5000))]
    kill_before_ms: i64,
    /// Reconciler interval of the replicas (the reconciler is not what should end grants)
    #[arg(long, default_value = "1h")]
    reconcile: String,
    /// How long to wait for every grant to end before reporting the rest as not ended
    #[arg(long, default_value_t = 120)]
    wait: u64,
    /// A PostgreSQL database (`postgres://user@host:port/db`) instead of a SQLite file
    #[arg(long)]
    database_url: Option<String>,
    /// A PostgreSQL server started for the run (`fsync` on) instead of a SQLite file
    #[arg(long, conflicts_with = "database_url")]
    postgres: bool,
    /// The file holding the PostgreSQL password
    #[arg(long, requires = "database_url")]
    password_file: Option<PathBuf>,
}

/// One grant: who made it and when it was due to end.
struct Made {
    replica: usize,
    expires_at: Timestamp,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let server = args.postgres.then(Postgres::start_durable);
    let database = match (&args.database_url, &server) {
        (Some(url), _) => Database::Postgres {
            url: url.clone(),
            password_file: args.password_file.clone(),
        },
        (None, Some(server)) => Database::Postgres {
            url: server.create_database(),
            password_file: Some(server.password_file()),
        },
        (None, None) => Database::sqlite(),
    };
    let on = if matches!(database, Database::Postgres { .. }) {
        "PostgreSQL"
    } else {
        "one SQLite file"
    };
    let count = usize::try_from(args.replicas).expect("a few replicas");
    let mut replicas = Replicas::start(database, count, &args.reconcile).await;
    let body = json!({
        "cluster": "dev",
        "namespaces": ["payments"],
        "role": "edit",
        "duration": format!("{}s", args.duration),
        "reason": "INC-123: failover benchmark"
    })
    .to_string();

    let mut made: BTreeMap<String, Made> = BTreeMap::new();
    let started = Instant::now();
    for n in 0..args.grants {
        for replica in 0..count {
            let alice = token(&format!("alice-{n}"), &["sre"]);
            let answer = replicas
                .get(replica)
                .call("POST", "/v1/requests", Some(&alice), Some(&body))
                .await;
            if answer.status != 201 {
                eprintln!("unexpected answer {}: {}", answer.status, answer.text);
                return ExitCode::FAILURE;
            }
            let id = answer.json["id"].as_str().expect("an id").to_owned();
            let expires_at: Timestamp = answer.json["expires_at"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .expect("an `expires_at`");
            made.insert(
                id,
                Made {
                    replica,
                    expires_at,
                },
            );
        }
    }
    let making = started.elapsed();
    let first = made.values().map(|m| m.expires_at).min().expect("grants");
    let kill_at = first
        .checked_sub(jiff::SignedDuration::from_millis(args.kill_before_ms))
        .expect("a time in range");
    let wait = Duration::try_from(kill_at.duration_since(Timestamp::now())).unwrap_or_default();
    if wait.is_zero() {
        eprintln!(
            "making the grants took {making:?}, longer than a grant lasts: raise `--duration`"
        );
        return ExitCode::FAILURE;
    }
    tokio::time::sleep(wait).await;
    replicas.kill(0);
    let killed_at = Timestamp::now();

    // Wait for every grant's `expired`, read from a survivor's audit log.
    let survivor = replicas.get(1);
    let auditor = auditor();
    let mut ended: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut after = 0;
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    while ended.len() < made.len() && Instant::now() < deadline {
        let page = survivor
            .call(
                "GET",
                &format!("/v1/audit?after={after}&limit=500"),
                Some(&auditor),
                None,
            )
            .await;
        let items = page.json["items"].as_array().cloned().unwrap_or_default();
        for event in &items {
            after = event["seq"].as_i64().unwrap_or(after);
            let Some(id) = event["request_id"].as_str() else {
                continue;
            };
            if made.contains_key(id)
                && event["kind"] == "state_changed"
                && event["details"]["to"] == "expired"
            {
                let at: Timestamp = event["time"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .expect("an event time");
                ended.insert(id.to_owned(), at);
            }
        }
        if items.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    println!(
        "{} replicas on {}, {} grants of {} s each per replica (made in {:.1} s); replica 0 killed \
         at {killed_at}, {} ms before the first expiry",
        count,
        on,
        args.grants,
        args.duration,
        making.as_secs_f64(),
        args.kill_before_ms
    );
    println!(
        "{:<28} {:>7} {:>9} {:>9} {:>9} {:>10}",
        "grants", "ended", "p50 late", "p99 late", "max late", "not ended"
    );
    let mut missing = 0;
    for (label, killed) in [
        ("of the killed replica", true),
        ("of the replicas left", false),
    ] {
        let group: Vec<(&String, &Made)> = made
            .iter()
            .filter(|(_, m)| (m.replica == 0) == killed)
            .collect();
        let mut late: Vec<f64> = group
            .iter()
            .filter_map(|(id, m)| {
                ended
                    .get(*id)
                    .map(|at| at.duration_since(m.expires_at).as_secs_f64())
            })
            .collect();
        late.sort_by(f64::total_cmp);
        let not_ended = group.len() - late.len();
        missing += not_ended;
        println!(
            "{label:<28} {:>7} {:>8.2}s {:>8.2}s {:>8.2}s {not_ended:>10}",
            late.len(),
            percentile(&late, 0.5),
            percentile(&late, 0.99),
            late.last().copied().unwrap_or(f64::NAN),
        );
    }
    if missing > 0 {
        println!(
            "{missing} grants did not end within {} s of the kill",
            args.wait
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
