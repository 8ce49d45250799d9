//! A bounded load run against an embedded Wicket (kube-sim + the real HTTP server on
//! loopback, as `wicket dev` runs them; the load generator shares the process and its cores):
//! throughput and p50/p99 latency of `POST /v1/requests` over HTTP as a client sees it, for
//! the sample chain built as WebAssembly and as native rules, in the same run. Not part of the
//! test run; results go to `BENCHMARKS.md`.
//!
//! ```text
//! cargo build --release -p wicket-tests --bin load
//! ./target/release/load deny both --clients 256 --requests 20000
//! ./target/release/load deny wasm --rate 2500 --requests 25000
//! ./target/release/load provision both --clients 32 --requests 5000
//! ./target/release/load deny wasm --postgres --replicas 2 --clients 256 --requests 20000
//! ```
//!
//! With `--postgres` the store is a real PostgreSQL server the tool starts (initdb into a
//! temporary directory, as in the tests); with `--replicas N` N services share that database
//! in this process, each on its own listener, and the clients take turns among them.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use wicket::policy::OnDeny;
use wicket_tests::env::gated_config;
use wicket_tests::metrics::{self, Exposition};
use wicket_tests::postgres::Postgres;
use wicket_tests::tokens::token;
use wicket_tests::{Env, Running};

const BODY: &str = r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"30m","reason":"INC-123: load"}"#;

/// Requests in flight at most in the open loop (bounds the sockets; a request waiting for a
/// slot is still timed from its scheduled start).
const MAX_IN_FLIGHT: usize = 2048;

/// Subjects the open loop's requests take turns with (one token each).
const OPEN_LOOP_SUBJECTS: usize = 256;

/// Load Wicket over HTTP on loopback and report throughput and latency.
#[derive(Debug, Parser)]
#[command(name = "load")]
struct Args {
    /// `deny` (the chain denies: 403) or `provision` (a grant provisioned on kube-sim: 201)
    #[arg(value_enum, default_value_t = Mode::Deny)]
    mode: Mode,
    /// The sample chain built as `wasm`, as `native` rules, or `both` (one after the other)
    #[arg(value_enum, default_value_t = Chains::Both)]
    chain: Chains,
    /// Requests per chain
    #[arg(short = 'n', long, default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    requests: u32,
    /// Closed loop: clients, each sending its next request when its last is answered
    #[arg(short, long, default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    clients: u16,
    /// Open loop instead: requests started at this fixed rate per second whatever the answers;
    /// latency is measured from each request's scheduled start
    #[arg(short, long, conflicts_with = "clients",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rate: Option<u32>,
    /// The `groups` entry's `on_deny`: `continue` (every module runs) or `stop`
    #[arg(long, value_enum, default_value_t = Gate::Continue)]
    on_deny: Gate,
    /// Store on a PostgreSQL server started for the run (`fsync` on) instead of SQLite
    #[arg(long)]
    postgres: bool,
    /// Services sharing the store, each on its own listener; clients take turns among them
    /// (more than one needs `--postgres`)
    #[arg(long, default_value_t = 1, requires_if("2..", "postgres"),
          value_parser = clap::value_parser!(u8).range(1..=8))]
    replicas: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Deny,
    Provision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Chains {
    Wasm,
    Native,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Gate {
    Continue,
    Stop,
}

/// What one chain's run measured.
struct Measured {
    latencies: Vec<Duration>,
    elapsed: Duration,
    /// CPU time this process (Wicket, kube-sim and the load generator) used meanwhile.
    cpu: Option<Duration>,
    unexpected: usize,
    first_unexpected: Option<String>,
    scraped: Exposition,
}

impl Measured {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// CPU time (user + system) this process has used, from `/proc/self/stat` (Linux; clock
/// ticks, assumed 100 per second as on every Linux this runs on).
fn cpu_used() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) end with `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Sends one request; `Err` with the status and body when the answer is not `expected`.
async fn send(wicket: &Running, token: &str, expected: u16) -> Result<(), String> {
    let answer = wicket
        .call("POST", "/v1/requests", Some(token), Some(BODY))
        .await;
    if answer.status == expected {
        Ok(())
    } else {
        Err(format!("{} {}", answer.status, answer.text))
    }
}

type Outcome = (Duration, Result<(), String>);

/// `clients` clients, each sending its next request when its last is answered.
async fn closed_loop(
    replicas: &Arc<Vec<Running>>,
    tokens: &[String],
    each: usize,
    expected: u16,
) -> Vec<Outcome> {
    let mut tasks = JoinSet::new();
    for (n, token) in tokens.iter().enumerate() {
        let token = token.clone();
        let replicas = replicas.clone();
        tasks.spawn(async move {
            let mut outcomes = Vec::with_capacity(each);
            for _ in 0..each {
                let sent = Instant::now();
                let result = send(&replicas[n % replicas.len()], &token, expected).await;
                outcomes.push((sent.elapsed(), result));
            }
            outcomes
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        outcomes.extend(done.expect("a load task"));
    }
    outcomes
}

/// `requests` requests started at `rate` per second, each timed from its scheduled start.
async fn open_loop(
    replicas: &Arc<Vec<Running>>,
    tokens: &[String],
    requests: usize,
    rate: u32,
    expected: u16,
) -> Vec<Outcome> {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = JoinSet::new();
    let start = tokio::time::Instant::now();
    for i in 0..requests {
        let scheduled = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
        tokio::time::sleep_until(scheduled).await;
        let slot = slots.clone().acquire_owned().await.expect("never closed");
        let replicas = replicas.clone();
        let token = tokens[i % tokens.len()].clone();
        tasks.spawn(async move {
            let result = send(&replicas[i % replicas.len()], &token, expected).await;
            drop(slot);
            (scheduled.elapsed(), result)
        });
    }
    let mut outcomes = Vec::with_capacity(requests);
    while let Some(done) = tasks.join_next().await {
        outcomes.push(done.expect("a load task"));
    }
    outcomes
}

async fn run(args: &Args, chain: Chains) -> Measured {
    let env = match args.on_deny {
        Gate::Continue => Env::start("1h").await,
        Gate::Stop => Env::start_with(&gated_config(), "1h").await,
    };
    let on_deny = match args.on_deny {
        Gate::Continue => OnDeny::Continue,
        Gate::Stop => OnDeny::Stop,
    };
    assert_eq!(
        env.policy("groups").on_deny,
        on_deny,
        "the chain's `on_deny`"
    );
    let decider = match chain {
        Chains::Native => env.native_chain(),
        _ => env.wasm_chain(),
    };
    let mut config = env.config.clone();
    let _database = args.postgres.then(|| {
        let server = Postgres::start_durable();
        config.data = server.data_config(&server.create_database());
        server
    });
    let mut replicas = Vec::new();
    for _ in 0..args.replicas {
        replicas.push(env.serve_with(&config, decider.clone()).await);
    }
    let wicket = Arc::new(replicas);
    let (groups, expected): (&[&str], u16) = match args.mode {
        Mode::Deny => (&["developers"], 403),
        Mode::Provision => (&["sre"], 201),
    };
    let subjects = args
        .rate
        .map_or(usize::from(args.clients), |_| OPEN_LOOP_SUBJECTS);
    let tokens: Vec<String> = (0..subjects)
        .map(|n| token(&format!("load-{n}"), groups))
        .collect();
    // Warm-up: one request per subject, concurrently (connections, compiled code paths,
    // SQLite pages).
    for outcome in closed_loop(&wicket, &tokens, 1, expected).await {
        if let (_, Err(answer)) = outcome {
            panic!("warm-up: {answer}");
        }
    }
    let requests = usize::try_from(args.requests).expect("a u32 fits");
    let started = Instant::now();
    let cpu_before = cpu_used();
    let outcomes = match args.rate {
        Some(rate) => open_loop(&wicket, &tokens, requests, rate, expected).await,
        None => closed_loop(&wicket, &tokens, requests.div_ceil(subjects), expected).await,
    };
    let elapsed = started.elapsed();
    let cpu = cpu_used()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    // The first replica's decisions (each replica counts its own).
    let scraped = metrics::parse(&wicket[0].metrics().await).expect("`/metrics` parses");
    let mut measured = Measured {
        latencies: Vec::with_capacity(outcomes.len()),
        elapsed,
        cpu,
        unexpected: 0,
        first_unexpected: None,
        scraped,
    };
    for (latency, result) in outcomes {
        measured.latencies.push(latency);
        if let Err(answer) = result {
            measured.unexpected += 1;
            measured.first_unexpected.get_or_insert(answer);
        }
    }
    measured.latencies.sort();
    if let Ok(replicas) = Arc::try_unwrap(wicket) {
        for wicket in replicas {
            wicket.stop().await;
        }
    }
    measured
}

fn report(chain: &str, measured: &Measured) {
    let l = &measured.latencies;
    let decisions = measured
        .scraped
        .value("wicket_decision_seconds_count", &[])
        .unwrap_or(0.0);
    let decision_mean = measured
        .scraped
        .value("wicket_decision_seconds_sum", &[])
        .unwrap_or(0.0)
        / decisions.max(1.0);
    let bound = |q| {
        metrics::quantile_bound(&measured.scraped, "wicket_decision_seconds", q).map_or(
            "?".to_owned(),
            |s| {
                if s.is_finite() {
                    format!("{:?}", Duration::from_secs_f64(s))
                } else {
                    "+Inf".to_owned()
                }
            },
        )
    };
    println!(
        "  {chain:<6} {:>8.0}/s  p50 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}  ({} requests in {:.2?}; chain decision mean {:.1}µs, p50 ≤ {}, p99 ≤ {})",
        measured.throughput(),
        percentile(l, 0.50),
        percentile(l, 0.99),
        l.last().copied().unwrap_or_default(),
        l.len(),
        measured.elapsed,
        decision_mean * 1e6,
        bound(0.5),
        bound(0.99),
    );
    if let Some(cpu) = measured.cpu {
        let per_request = cpu.as_secs_f64() / l.len() as f64;
        println!(
            "  {chain:<6} CPU {:.0}% of one core, {:.0}µs per request: {:.0}/s if the process had two cores to itself",
            100.0 * cpu.as_secs_f64() / measured.elapsed.as_secs_f64(),
            per_request * 1e6,
            2.0 / per_request
        );
    }
    if let Some(first) = &measured.first_unexpected {
        println!(
            "  {chain:<6} {} unexpected answers; the first: {first}",
            measured.unexpected
        );
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let text = error.render().to_string();
            let line = text.lines().next().unwrap_or("bad arguments");
            eprintln!("{line} (see `load --help`)");
            return ExitCode::from(2);
        }
    };
    let chains: &[Chains] = match args.chain {
        Chains::Both => &[Chains::Wasm, Chains::Native],
        one => &[one][..],
    };
    let shape = args.rate.map_or_else(
        || format!("closed loop, {} clients", args.clients),
        |rate| format!("open loop, {rate}/s offered"),
    );
    let store = if args.postgres {
        format!("PostgreSQL, {} replica(s)", args.replicas)
    } else {
        "SQLite".to_owned()
    };
    println!(
        "{}, {shape}, {store}, {} requests per chain, on_deny = {}; load average before: {}",
        if args.mode == Mode::Deny {
            "deny"
        } else {
            "provision"
        },
        args.requests,
        if args.on_deny == Gate::Continue {
            "continue"
        } else {
            "stop"
        },
        load_average()
    );
    let mut results = Vec::new();
    for chain in chains {
        let name = if *chain == Chains::Native {
            "native"
        } else {
            "wasm"
        };
        let measured = run(&args, *chain).await;
        report(name, &measured);
        results.push((name, measured));
    }
    if let [(_, wasm), (_, native)] = &results[..] {
        println!(
            "  wasm / native throughput: {:.2}",
            wasm.throughput() / native.throughput()
        );
    }
    println!("load average after: {}", load_average());
    if results.iter().any(|(_, m)| m.unexpected > 0) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
