//! `wicket serve` run as a process: a configuration that would serve in clear off loopback, or
//! run development mode off loopback, is refused with one `error:` line and exit code 2 before
//! anything starts; `dev = true` is announced loudly. The configurations name a module that
//! does not exist, so that a start that gets past the checks ends before binding anything.

use std::path::Path;
use std::process::{Command, Output};

const CLUSTER: &str = r#"
[[issuers]]
issuer = "https://login.example.com"
alias = "corp"
audiences = ["wicket"]
algorithms = ["RS256"]
jwks_file = "jwks.json"

[[clusters]]
name = "dev"
kubeconfig = "dev.kubeconfig"
server = "https://dev.example.com:6443"

[[clusters.policies]]
name = "groups"
module = "missing.wasm"
"#;

/// `wicket serve` with `head` (top-level keys) in front of [`CLUSTER`]: exit code and stderr.
fn serve(dir: &Path, head: &str) -> (Option<i32>, String) {
    let config = dir.join("wicket.toml");
    std::fs::write(
        &config,
        format!("{head}\n[data]\npath = \"wicket.db\"\n{CLUSTER}"),
    )
    .expect("write the configuration");
    let Output { status, stderr, .. } = Command::new(env!("CARGO_BIN_EXE_wicket"))
        .arg("--no-cache")
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env_remove("WICKET_LOG")
        .output()
        .expect("running wicket");
    (status.code(), String::from_utf8_lossy(&stderr).into_owned())
}

#[test]
fn plain_http_off_loopback_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = serve(dir.path(), "listen = \"0.0.0.0:8080\"");
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains("`listen` `0.0.0.0:8080` is not a loopback address")
            && stderr.contains("`[tls]`")
            && stderr.contains("`insecure_http = true`"),
        "{stderr}"
    );
    // Said explicitly, it passes the check (and this start then ends at the missing module).
    let (code, stderr) = serve(
        dir.path(),
        "listen = \"0.0.0.0:8080\"\ninsecure_http = true",
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stderr.contains("`listen`"), "{stderr}");
    assert!(stderr.contains("missing.wasm"), "{stderr}");
}

#[test]
fn development_mode_off_loopback_is_refused_even_when_insecure_http_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = serve(
        dir.path(),
        "dev = true\ninsecure_http = true\nlisten = \"0.0.0.0:8080\"",
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(
            "`listen` `0.0.0.0:8080` is not a loopback address: with `dev = true` Wicket \
             listens on loopback only"
        ),
        "{stderr}"
    );
}

#[test]
fn development_mode_is_announced_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let (_, stderr) = serve(dir.path(), "dev = true\nlisten = \"127.0.0.1:0\"");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("WARNING: `dev = true`"), "{stderr}");
    assert!(first.contains("never use it in production"), "{stderr}");
    let (_, stderr) = serve(dir.path(), "listen = \"127.0.0.1:0\"");
    assert!(!stderr.contains("WARNING"), "{stderr}");
}
