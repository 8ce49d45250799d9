//! HTTPS on the API, through the real server on loopback: a client trusting the configured CA
//! gets answers while plain HTTP and other clients get none; client certificates when a client
//! CA is configured; a changed certificate served to new connections without a restart, and a
//! mismatched pair refused while the previous certificate keeps serving.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wicket_tests::env::CONFIG;
use wicket_tests::pki::{self, Ca, Leaf};
use wicket_tests::tokens::token;
use wicket_tests::{Env, Running, wait_for};

/// The test configuration with `[tls]` naming `server.crt` and `server.key` in `dir`, and
/// `extra` keys of the section.
fn tls_config(dir: &Path, extra: &str) -> String {
    format!(
        "{CONFIG}\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n{extra}",
        dir.join("server.crt").display(),
        dir.join("server.key").display(),
    )
}

fn install(dir: &Path, leaf: &Leaf) {
    std::fs::write(dir.join("server.key"), &leaf.key_pem).expect("write the key");
    std::fs::write(dir.join("server.crt"), &leaf.cert_pem).expect("write the certificate");
}

/// A directory for the certificates, outside the environment's (which is made after).
fn cert_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().to_owned();
    (dir, path)
}

async fn serve_https(env: &Env, ca: &Ca) -> Running {
    let mut wicket = env.serve(env.wasm_chain()).await;
    assert!(
        wicket.base.starts_with("https://127.0.0.1:"),
        "{}",
        wicket.base
    );
    wicket.http = pki::client(ca, None);
    wicket
}

/// `GET /healthz` with `client`: the certificate served, or why there was no answer.
async fn healthz(client: &reqwest::Client, base: &str) -> Result<Vec<u8>, String> {
    let response = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    assert_eq!(response.status(), 200);
    Ok(pki::served_certificate(&response))
}

/// The certificate a new client trusting `ca` is served now (a fresh client, so that no
/// resumed TLS session reports the certificate of an earlier handshake).
async fn served_now(ca: &Ca, base: &str) -> Result<Vec<u8>, String> {
    healthz(&pki::client(ca, None), base).await
}

#[tokio::test]
async fn a_client_trusting_the_configured_ca_gets_answers_and_plain_http_gets_none() {
    let ca = Ca::new("wicket-test-ca");
    let (_certs, dir) = cert_dir();
    let served = ca.server("wicket");
    install(&dir, &served);
    let env = Env::start_with(&tls_config(&dir, ""), "1h").await;
    let wicket = serve_https(&env, &ca).await;

    assert_eq!(
        healthz(&wicket.http, &wicket.base).await,
        Ok(served.der.clone())
    );
    let mine = wicket
        .call("GET", "/v1/requests", Some(&token("alice", &["sre"])), None)
        .await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let body = r#"{"cluster":"dev","namespaces":["orders"],"role":"view","duration":"10m","reason":"over tls"}"#;
    let created = wicket
        .call(
            "POST",
            "/v1/requests",
            Some(&token("alice", &["sre"])),
            Some(body),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);

    // The same port in clear answers nothing: no bearer token or kubeconfig ever crosses it.
    let clear = wicket.base.replacen("https://", "http://", 1);
    let plain = reqwest::Client::new()
        .get(format!("{clear}/healthz"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    // A client that does not trust the CA refuses the server.
    let stranger = pki::client(&Ca::new("another-ca"), None);
    assert!(healthz(&stranger, &wicket.base).await.is_err());
    wicket.stop().await;
}

#[tokio::test]
async fn client_certificates_are_required_when_a_client_ca_is_configured() {
    let ca = Ca::new("wicket-test-ca");
    let clients = Ca::new("wicket-clients-ca");
    let (_certs, dir) = cert_dir();
    install(&dir, &ca.server("wicket"));
    let client_ca = dir.join("clients-ca.crt");
    std::fs::write(&client_ca, &clients.pem).expect("write the client CA");
    let extra = format!("client_ca_file = \"{}\"\n", client_ca.display());
    let env = Env::start_with(&tls_config(&dir, &extra), "1h").await;
    let wicket = serve_https(&env, &ca).await;

    let anonymous = healthz(&pki::client(&ca, None), &wicket.base).await;
    assert!(anonymous.is_err(), "answered without a client certificate");
    let forged = Ca::new("wicket-clients-ca").client("mallory");
    let forged = healthz(&pki::client(&ca, Some(&forged)), &wicket.base).await;
    assert!(forged.is_err(), "answered a certificate of another CA");
    let alice = clients.client("alice");
    let with_cert = pki::client(&ca, Some(&alice));
    assert!(healthz(&with_cert, &wicket.base).await.is_ok());
    // The certificate admits to TLS only: the API still wants a bearer token.
    let response = with_cert
        .get(format!("{}/v1/requests", wicket.base))
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 401);
    wicket.stop().await;
}

#[tokio::test]
async fn a_changed_certificate_is_served_without_a_restart_and_a_bad_one_is_refused() {
    let ca = Ca::new("wicket-test-ca");
    let (_certs, dir) = cert_dir();
    let first = ca.server("first");
    install(&dir, &first);
    let env = Env::start_with(&tls_config(&dir, "reload_interval = \"50ms\"\n"), "1h").await;
    let wicket = serve_https(&env, &ca).await;
    assert_eq!(served_now(&ca, &wicket.base).await, Ok(first.der.clone()));

    let second = ca.server("second");
    install(&dir, &second);
    wait_for(
        "the second certificate to be served",
        Duration::from_secs(30),
        || async { served_now(&ca, &wicket.base).await == Ok(second.der.clone()) },
    )
    .await;

    // Only the certificate replaced: it does not match the key on disk, so it is refused
    // (logged and counted) and the second certificate keeps serving.
    let refused = |metrics: &str| {
        metrics
            .lines()
            .find_map(|line| {
                line.strip_prefix("wicket_tls_certificate_reloads_total{result=\"refused\"} ")
            })
            .and_then(|count| count.parse::<u64>().ok())
            .expect("the refused counter")
    };
    let before = refused(&wicket.metrics().await);
    let third = ca.server("third");
    std::fs::write(dir.join("server.crt"), &third.cert_pem).expect("write the certificate");
    wait_for(
        "the mismatched pair to be refused",
        Duration::from_secs(30),
        || async { refused(&wicket.metrics().await) > before },
    )
    .await;
    assert_eq!(served_now(&ca, &wicket.base).await, Ok(second.der.clone()));
    // Its key arrives: the pair is whole again and served.
    std::fs::write(dir.join("server.key"), &third.key_pem).expect("write the key");
    wait_for(
        "the third certificate to be served",
        Duration::from_secs(30),
        || async { served_now(&ca, &wicket.base).await == Ok(third.der.clone()) },
    )
    .await;
    let metrics = wicket.metrics().await;
    assert!(
        metrics.contains("wicket_tls_certificate_reloads_total{result=\"loaded\"} 2"),
        "{metrics}"
    );
    wicket.stop().await;
}
