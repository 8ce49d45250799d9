//! Durations through the real HTTP server and the shipped policies: the REST body's `duration`
//! and a policy's `max_ttl` in the TOML configuration read the one grammar (`1d` = 24 hours).

use serde_json::json;
use wicket_tests::Env;
use wicket_tests::env::CONFIG;
use wicket_tests::tokens::token;

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");

fn with_duration(duration: &str) -> String {
    let mut body: serde_json::Value = serde_json::from_str(EDIT_PAYMENTS).unwrap();
    body["duration"] = json!(duration);
    body.to_string()
}

#[tokio::test]
async fn a_day_is_asked_for_as_1d_and_capped_by_a_max_ttl_of_1d() {
    let config = CONFIG
        .replacen("max_duration = \"12h\"", "max_duration = \"2d\"", 1)
        .replacen(
            "roles = [\"view\", \"edit\"], max_ttl_seconds = 3600",
            "roles = [\"view\", \"edit\"], max_ttl = \"1d\"",
            1,
        );
    assert!(
        config.contains("max_ttl = \"1d\"") && config.contains("max_duration = \"2d\""),
        "the test configuration changed"
    );
    let env = Env::start_with(&config, "1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let alice = token("alice", &["sre"]);
    for (asked, seconds) in [("1d", 86_400), ("25h", 90_000)] {
        let created = wicket
            .call(
                "POST",
                "/v1/requests",
                Some(&alice),
                Some(&with_duration(asked)),
            )
            .await;
        assert_eq!(created.status, 201, "{asked}: {}", created.text);
        assert_eq!(
            created.json["duration_seconds"], seconds,
            "{}",
            created.text
        );
        assert_eq!(
            created.json["grant"]["ttl_seconds"], 86_400,
            "{asked}: capped at `max_ttl = \"1d\"`: {}",
            created.text
        );
    }
    wicket.stop().await;
}
