//! Tokens and kubeconfigs never reach the logs or the audit log: a full grant's life is run
//! with every log line captured (debug level, Wicket and kube-rs), then both are searched for
//! the bearer token, the kubeconfig and the ServiceAccount token inside it.

use std::io::Write;
use std::sync::{Arc, Mutex};

use wicket_tests::Env;
use wicket_tests::tokens::token;

const EDIT_PAYMENTS: &str = include_str!("../fixtures/requests/edit-payments.json");

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

#[tokio::test]
async fn tokens_and_kubeconfigs_appear_in_neither_logs_nor_audit() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug,hyper=info,h2=info,rustls=info")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let env = Env::start("1h").await;
    let wicket = env.serve(env.wasm_chain()).await;
    let alice = token("alice", &["sre"]);
    let created = wicket
        .call("POST", "/v1/requests", Some(&alice), Some(EDIT_PAYMENTS))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let kubeconfig = wicket
        .call(
            "GET",
            &format!("/v1/requests/{id}/kubeconfig"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(kubeconfig.status, 200);
    let start = kubeconfig
        .text
        .find("eyJ")
        .expect("the kubeconfig holds a JWT");
    let sa_token: String = kubeconfig.text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    assert!(sa_token.len() > 20);
    let bad = format!("{alice}x");
    assert_eq!(
        wicket
            .call("GET", "/v1/requests", Some(&bad), None)
            .await
            .status,
        401
    );
    let revoked = wicket
        .call(
            "POST",
            &format!("/v1/requests/{id}/revoke"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(revoked.status, 200);

    let events = wicket
        .service
        .workflow()
        .store()
        .audit_events(0, 1000)
        .await
        .unwrap();
    let audit = serde_json::to_string(&events).unwrap();
    assert!(events.iter().any(|e| e.kind == "kubeconfig_issued"));
    wicket.stop().await;
    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(logs.contains(&id), "the logs were captured");
    let signature = alice.rsplit('.').next().unwrap();
    let sa_signature = sa_token.rsplit('.').next().unwrap();
    for (what, secret) in [
        ("bearer token", alice.as_str()),
        ("bearer token signature", signature),
        ("kubeconfig", kubeconfig.text.as_str()),
        ("service account token", sa_token.as_str()),
        ("service account token signature", sa_signature),
    ] {
        assert!(!logs.contains(secret), "the {what} is in the logs");
        assert!(!audit.contains(secret), "the {what} is in the audit log");
    }
}
