//! `/metrics` as Prometheus scrapes it, through the real server on loopback: the text parses
//! strictly (declared types, well-formed names and labels, cumulative histogram buckets) and
//! its figures follow what the service did.

use wicket_tests::Env;
use wicket_tests::metrics::parse;
use wicket_tests::tokens::{METRICS_TOKEN, token};

const BODY: &str = r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"30m","reason":"INC-123: metrics"}"#;

#[tokio::test]
async fn a_scrape_parses_and_counts_what_happened() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let sre = token("alice", &["sre"]);
    let granted = wicket
        .call("POST", "/v1/requests", Some(&sre), Some(BODY))
        .await;
    assert_eq!(granted.status, 201, "{}", granted.text);
    let developer = token("bob", &["developers"]);
    for _ in 0..2 {
        let denied = wicket
            .call("POST", "/v1/requests", Some(&developer), Some(BODY))
            .await;
        assert_eq!(denied.status, 403, "{}", denied.text);
    }
    let refused = wicket
        .call("POST", "/v1/requests", Some("not-a-token"), Some(BODY))
        .await;
    assert_eq!(refused.status, 401, "{}", refused.text);

    let response = wicket
        .http
        .get(format!("{}/metrics", wicket.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("wicket answers");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.expect("a body");
    let scraped = parse(&text).unwrap_or_else(|error| panic!("{error} in:\n{text}"));

    for (family, kind) in [
        ("wicket_requests_total", "counter"),
        ("wicket_decision_seconds", "histogram"),
        ("wicket_policy_generation", "gauge"),
        ("wicket_active_grants", "gauge"),
        ("wicket_store_writes_total", "counter"),
        ("wicket_store_batches_total", "counter"),
        ("wicket_teardown_retries_total", "counter"),
        ("wicket_teardowns_pending", "gauge"),
        ("wicket_auth_remembered_total", "counter"),
        ("wicket_auth_remembered_tokens", "gauge"),
        ("wicket_source_rate_limited_total", "counter"),
        ("wicket_sources_tracked", "gauge"),
        ("wicket_authentication_failures_total", "counter"),
    ] {
        assert_eq!(
            scraped.types.get(family).map(String::as_str),
            Some(kind),
            "`{family}` in:\n{text}"
        );
    }
    // Families keyed by a label appear with their first sample: none happened here.
    for family in [
        "wicket_provisioning_failures_total",
        "wicket_policy_reloads_total",
        "wicket_policy_rejections_total",
        "wicket_policy_shadow_differences_total",
    ] {
        assert!(!scraped.types.contains_key(family), "{text}");
    }
    let value = |name: &str, labels: &[(&str, &str)]| {
        scraped
            .value(name, labels)
            .unwrap_or_else(|| panic!("no `{name}` {labels:?} in:\n{text}"))
    };
    assert_eq!(
        value("wicket_requests_total", &[("outcome", "active")]),
        1.0
    );
    assert_eq!(
        value("wicket_requests_total", &[("outcome", "denied")]),
        2.0
    );
    assert_eq!(value("wicket_active_grants", &[]), 1.0);
    assert_eq!(value("wicket_decision_seconds_count", &[]), 3.0);
    assert!(value("wicket_decision_seconds_sum", &[]) > 0.0);
    // Bob's second request was authenticated by the verification of his first.
    assert!(value("wicket_auth_remembered_total", &[]) >= 1.0);
    assert!(value("wicket_store_writes_total", &[]) >= 3.0);
    let failures: f64 = scraped
        .samples
        .iter()
        .filter(|s| s.name == "wicket_authentication_failures_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(failures, 1.0, "{text}");
    wicket.stop().await;
}
