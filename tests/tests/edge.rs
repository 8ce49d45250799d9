//! The API edge under attack, through the real HTTP server: a flood of bad tokens is counted,
//! not written to the audit log one row each; a flood from one address is refused before
//! authentication while another client (named by a trusted proxy) gets through; a failed
//! provisioning tells the requester a step and an error id, never the API server's words.

use std::io::Write;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use kube_sim::{FaultAction, FaultRule};
use serde_json::Value;
use wicket::store::Store;
use wicket_tests::env::CONFIG;
use wicket_tests::tokens::{SECRET, claims, hs256, token};
use wicket_tests::{Env, Running};

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");

/// Every log line of this test binary (tests search it for what they wrote).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        tracing_subscriber::fmt()
            .with_env_filter("info,wicket=debug")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        capture
    })
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned()
}

/// The `authentication_failed` events in `store`.
async fn failure_events(store: &Store) -> Vec<Value> {
    store
        .audit_events(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "authentication_failed")
        .map(|e| e.details)
        .collect()
}

#[tokio::test]
async fn five_hundred_bad_tokens_leave_one_audit_row_with_their_count() {
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let now = jiff::Timestamp::now().as_second();
    let mut expired = claims("mallory", &["sre"]);
    expired["exp"] = (now - 60).into();
    let bad = [
        ("malformed", "not.a.token".to_owned()),
        ("expired", hs256(&expired, SECRET)),
        (
            "bad_signature",
            hs256(
                &claims("mallory", &["sre"]),
                "another-secret-of-at-least-32-bytes!!",
            ),
        ),
    ];
    for n in 0..500 {
        let (code, token) = &bad[n % bad.len()];
        let answer = wicket
            .call("POST", "/v1/requests", Some(token), Some(EDIT_PAYMENTS))
            .await;
        assert_eq!(answer.status, 401, "{}", answer.text);
        assert_eq!(answer.json["error"]["code"], *code);
    }

    // While the window is open the failures are counted, not written (a window closes a
    // minute after its first failure: on a very slow machine one may have been written).
    let store = wicket.service.workflow().store();
    assert!(failure_events(store).await.len() <= 1);
    let auditor = token("ada", &["auditors"]);
    let audit = wicket
        .call("GET", "/v1/audit?limit=500", Some(&auditor), None)
        .await;
    assert_eq!(audit.status, 200, "{}", audit.text);
    assert!(
        audit.json["items"].as_array().unwrap().len() <= 1,
        "{}",
        audit.text
    );
    let metrics = wicket.metrics().await;
    for (code, count) in [("malformed", 167), ("expired", 167), ("bad_signature", 166)] {
        let line = format!("wicket_authentication_failures_total{{code=\"{code}\"}} {count}\n");
        assert!(metrics.contains(&line), "{metrics}");
    }

    // A graceful stop writes what is still being counted.
    wicket.stop().await;
    let store = Store::open_existing(&env.data().join("wicket.db"))
        .await
        .unwrap();
    let events = failure_events(&store).await;
    assert!(events.len() <= 2, "{events:?}");
    assert_eq!(
        events
            .iter()
            .map(|e| e["count"].as_u64().unwrap())
            .sum::<u64>(),
        500,
        "{events:?}"
    );
    let malformed: u64 = events
        .iter()
        .map(|e| e["codes"]["malformed"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(malformed, 167);
    assert!(
        events.iter().all(|e| e["source"] == "127.0.0.1"),
        "{events:?}"
    );
    let report = wicket::audit::verify(&store, Vec::new()).await.unwrap();
    assert!(report.is_intact(), "{report}");
}

/// `GET /healthz` from a client whose connections come from `local`, naming `forwarded_for`
/// in `X-Forwarded-For`: the status, `Retry-After` and the body.
async fn probe(
    wicket: &Running,
    local: IpAddr,
    forwarded_for: Option<&str>,
) -> (u16, Option<u64>, Value) {
    let client = reqwest::Client::builder()
        .local_address(local)
        .build()
        .unwrap();
    let mut request = client.get(format!("{}/healthz", wicket.base));
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

/// Sends from `local` (naming `forwarded_for`) until one call is refused: how many were
/// accepted before it, and the refusal.
async fn flood(
    wicket: &Running,
    local: IpAddr,
    forwarded_for: impl Fn(usize) -> Option<String>,
) -> (usize, Option<u64>, Value) {
    for n in 0..200 {
        let (status, retry_after, body) = probe(wicket, local, forwarded_for(n).as_deref()).await;
        match status {
            200 => {}
            429 => return (n, retry_after, body),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    panic!("200 calls from one source and none refused");
}

#[tokio::test]
async fn a_flood_from_one_address_is_refused_before_authentication_while_others_get_through() {
    // One call a minute after a burst of 20; the proxy at 127.0.0.2 may name the client.
    let config = CONFIG
        .replace(
            "source_requests_per_minute = 6000000",
            "source_requests_per_minute = 1",
        )
        .replace(
            "source_burst = 100000",
            "source_burst = 20\ntrusted_proxies = [\"127.0.0.2\"]",
        );
    let env = Env::start_with(&config, "1h").await;
    assert_eq!(env.config.limits.source_burst, 20);
    let wicket = env.serve(env.wasm_chain()).await;
    let attacker: IpAddr = "127.0.0.1".parse().unwrap();
    let proxy: IpAddr = "127.0.0.2".parse().unwrap();
    let started = Instant::now();
    // The refill in the time the test takes: at most one call a minute.
    let slack = || 1 + usize::try_from(started.elapsed().as_secs() / 60).unwrap();

    // Directly, naming a new client each time: the attacker is no trusted proxy, so its
    // `X-Forwarded-For` is ignored.
    let (accepted, retry_after, body) =
        flood(&wicket, attacker, |n| Some(format!("198.51.100.{n}"))).await;
    assert!(accepted >= 20 && accepted <= 20 + slack(), "{accepted}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        retry_after.is_some_and(|s| (1..=61).contains(&s)),
        "{retry_after:?}"
    );
    let bearer = wicket
        .call("GET", "/v1/requests", Some(&token("alice", &["sre"])), None)
        .await;
    // (Unless a minute went by on a starved machine and refilled one call.)
    assert!(
        bearer.status == 429 || slack() > 1,
        "every route, even with a good token: {}",
        bearer.status
    );

    // Through the trusted proxy, one client floods and is refused...
    let (accepted, _, _) = flood(&wicket, proxy, |_| Some("203.0.113.9".to_owned())).await;
    assert!(accepted >= 20 && accepted <= 20 + slack(), "{accepted}");
    // ...while another client behind the same proxy gets through, as does a spoofed hop
    // the proxy passes on (the client is the hop the proxy added, the right-most).
    let (status, _, body) = probe(&wicket, proxy, Some("198.51.100.7")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = probe(&wicket, proxy, Some("203.0.113.9, 198.51.100.8")).await;
    assert_eq!(status, 200);
    let (status, _, _) = probe(&wicket, proxy, Some("198.51.100.8, 203.0.113.9")).await;
    assert_eq!(
        status, 429,
        "a left-most hop is the client's to write, not trusted"
    );
    let metrics = wicket.call("GET", "/metrics", None, None).await;
    assert!(
        metrics.status == 429 || slack() > 1,
        "the attacker's address is still refused: {}",
        metrics.status
    );
    wicket.stop().await;
}

#[tokio::test]
async fn a_failed_provisioning_tells_the_requester_a_step_and_an_error_id_only() {
    logs();
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let api_server_words = "rolebindings.rbac.authorization.k8s.io is forbidden: User \
        \"system:serviceaccount:wicket-system:wicket\" cannot create resource \"rolebindings\"";
    env.sim.faults().add(
        FaultRule::new(FaultAction::Fail {
            code: 403,
            reason: "Forbidden".into(),
            message: api_server_words.into(),
        })
        .verb("create")
        .resource("rolebindings"),
    );
    let alice = token("alice", &["sre"]);
    let answer = wicket
        .call("POST", "/v1/requests", Some(&alice), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(answer.status, 502, "{}", answer.text);
    assert_eq!(answer.json["error"]["code"], "provisioning_failed");
    let message = answer.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("`role-binding`"), "{message}");
    let id_at = message.find("error id `").expect("an error id") + "error id `".len();
    let error_id = &message[id_at..id_at + 12];
    assert!(error_id.chars().all(|c| c.is_ascii_hexdigit()), "{message}");
    let request_id = answer.json["error"]["request_id"].as_str().unwrap();
    let detail = wicket
        .call(
            "GET",
            &format!("/v1/requests/{request_id}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(detail.json["state"], "failed", "{}", detail.text);
    for text in [&answer.text, &detail.text] {
        for leak in [
            "system:serviceaccount",
            "wicket-system",
            "forbidden",
            "rbac",
        ] {
            assert!(
                !text.contains(leak),
                "`{leak}` reached the requester: {text}"
            );
        }
        assert!(text.contains(error_id), "{text}");
    }

    // The cause, under the same id: in the log, and in the audit log for auditors.
    let line = logged()
        .lines()
        .find(|line| line.contains(error_id))
        .map(str::to_owned)
        .expect("a log line with the error id");
    assert!(
        line.contains("system:serviceaccount:wicket-system:wicket"),
        "{line}"
    );
    let audit = wicket
        .call(
            "GET",
            "/v1/audit?limit=500",
            Some(&token("ada", &["auditors"])),
            None,
        )
        .await;
    let failed = audit.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request_id"] == request_id && e["details"]["to"] == "failed")
        .expect("the failure's audit event");
    let note = failed["details"]["note"].as_str().unwrap();
    assert!(
        note.contains(error_id) && note.contains("system:serviceaccount"),
        "{note}"
    );
    wicket.stop().await;
}
