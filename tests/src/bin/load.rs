//! A bounded load run against an embedded Wicket (kube-sim + the real HTTP server on
//! loopback, as `wicket dev` runs them): p50/p99 latency and throughput of `POST /v1/requests`,
//! first over HTTP as a client sees it, then server-side (the same requests handed to the
//! router in-process, no socket). Not part of the test run; results go to `BENCHMARKS.md`.
//!
//! ```text
//! cargo run --profile production -p wicket-tests --bin load -- [deny|provision] [native|wasm] [requests] [concurrency] [stop|continue]
//! ```
//!
//! The last argument is the `on_deny` of the chain's first entry, `groups`: `stop` (the default,
//! as in `wicket dev`'s sample chain: the chain ends at the `groups` deny) or `continue` (a
//! denial runs both modules).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::http::Request;
use tower::ServiceExt;
use wicket::policy::OnDeny;
use wicket::workflow::Decider;
use wicket_tests::Env;
use wicket_tests::env::gated_config;
use wicket_tests::tokens::token;

const ALLOWED: &str = r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"30m","reason":"INC-123: load"}"#;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn usage() -> ! {
    eprintln!(
        "usage: load [deny|provision] [native|wasm] [requests (1..=100000)] [concurrency (1..=64)] [stop|continue]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("deny", String::as_str);
    let chain = args.get(1).map_or("wasm", String::as_str);
    let requests: usize = args
        .get(2)
        .map_or(Ok(2000), |n| n.parse())
        .unwrap_or_else(|_| usage());
    let concurrency: usize = args
        .get(3)
        .map_or(Ok(4), |n| n.parse())
        .unwrap_or_else(|_| usage());
    let on_deny = match args.get(4).map_or("stop", String::as_str) {
        "continue" => OnDeny::Continue,
        "stop" => OnDeny::Stop,
        _ => usage(),
    };
    if !matches!(mode, "deny" | "provision")
        || !(1..=100_000).contains(&requests)
        || !(1..=64).contains(&concurrency)
    {
        usage();
    }
    let env = match on_deny {
        OnDeny::Continue => Env::start("1h").await,
        OnDeny::Stop => Env::start_with(&gated_config(), "1h").await,
    };
    assert_eq!(
        env.policy("groups").on_deny,
        on_deny,
        "the chain's `on_deny`"
    );
    let decider: Arc<dyn Decider> = match chain {
        "native" => env.native_chain(),
        "wasm" => env.wasm_chain(),
        _ => usage(),
    };
    let wicket = env.serve(decider).await;
    let groups: &[&str] = if mode == "deny" {
        &["developers"]
    } else {
        &["sre"]
    };
    let expected = if mode == "deny" { 403 } else { 201 };
    // Warm-up: connections, compiled code paths, SQLite pages.
    let warm = token("warm-up", groups);
    for _ in 0..50 {
        wicket
            .call("POST", "/v1/requests", Some(&warm), Some(ALLOWED))
            .await;
    }
    let wicket = Arc::new(wicket);
    let tokens: Vec<String> = (0..concurrency)
        .map(|task| token(&format!("load-{task}"), groups))
        .collect();

    // Over HTTP on loopback, as a client sees it.
    let per_task = requests.div_ceil(concurrency);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for token in tokens.clone() {
        let wicket = wicket.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let sent = Instant::now();
                let answer = wicket
                    .call("POST", "/v1/requests", Some(&token), Some(ALLOWED))
                    .await;
                latencies.push(sent.elapsed());
                assert_eq!(answer.status, expected, "{}", answer.text);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a load task"));
    }
    let elapsed = started.elapsed();

    // Server-side: the same requests handed straight to the router (routing, authentication,
    // body parsing, the chain, the store, provisioning, the JSON answer), with no socket.
    let router = wicket.service.router();
    let started_in_process = Instant::now();
    let mut tasks = Vec::new();
    for token in tokens {
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let request = Request::post("/v1/requests")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .body(Body::from(ALLOWED))
                    .expect("a request");
                let sent = Instant::now();
                let response = router.clone().oneshot(request).await.expect("infallible");
                let status = response.status().as_u16();
                let body = to_bytes(response.into_body(), usize::MAX)
                    .await
                    .expect("a body");
                latencies.push(sent.elapsed());
                assert_eq!(status, expected, "{}", String::from_utf8_lossy(&body));
            }
            latencies
        }));
    }
    let mut server = Vec::new();
    for task in tasks {
        server.extend(task.await.expect("a load task"));
    }
    let elapsed_in_process = started_in_process.elapsed();
    server.sort();
    latencies.sort();
    let store = wicket.service.workflow().store();
    let page = store
        .list_requests(&wicket::store::ListFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .expect("list requests");
    let mut decisions = Vec::new();
    for record in &page.items {
        let modules = store.module_verdicts(&record.id).await.expect("verdicts");
        decisions.push(Duration::from_micros(
            modules.iter().map(|m| m.duration_us).sum(),
        ));
    }
    decisions.sort();
    println!(
        "mode={mode} chain={chain} on_deny={on_deny:?} requests={} concurrency={concurrency}\n  \
         http:        {:.0}/s p50={:?} p99={:?}\n  \
         server-side: {:.0}/s p50={:?} p99={:?}\n  \
         chain decision (last {}): p50={:?} p99={:?}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        server.len() as f64 / elapsed_in_process.as_secs_f64(),
        percentile(&server, 0.50),
        percentile(&server, 0.99),
        decisions.len(),
        percentile(&decisions, 0.50),
        percentile(&decisions, 0.99),
    );
}
