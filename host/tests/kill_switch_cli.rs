//! The real `wicket` binary: `wicket revoke` (the kill switch) against a running `wicket dev`,
//! with real kubectl; its one-line errors; and `wicket serve` refusing two cluster entries on
//! one API server and JIT namespace.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use kube_sim::kubectl::Kubectl;

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wicket(args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wicket"));
    command
        .args(args)
        .env_remove("WICKET_TOKEN")
        .env_remove("WICKET");
    if let Some(token) = token {
        command.env("WICKET_TOKEN", token);
    }
    command.output().expect("run wicket")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts exit code 2 and one `error: …` line on stderr containing `needle`.
fn one_line_error(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(needle),
        "{stderr}"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    one_line_error(
        &wicket(&["revoke", "--all", "--server", "http://127.0.0.1:1"], None),
        "set `WICKET_TOKEN` to an admin's bearer token",
    );
    one_line_error(
        &wicket(&["revoke", "--all", "--server", "ftp://x"], Some("t")),
        "`--server` `ftp://x` must be an http or https URL",
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    one_line_error(
        &wicket(&["revoke", "--cluster", "dev", "--server", &url], Some("t")),
        "cannot reach",
    );
    let both = wicket(
        &["revoke", "--all", "--cluster", "dev", "--server", &url],
        Some("t"),
    );
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
}

#[test]
fn serve_refuses_two_entries_on_one_api_server_and_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let entry = |name: &str, kubeconfig: &str, server: &str| {
        format!(
            "[[clusters]]\nname = \"{name}\"\nkubeconfig = \"{kubeconfig}\"\nserver = \"{server}\"\n\
             [[clusters.policies]]\nname = \"groups\"\nmodule = \"group_access.wasm\"\n"
        )
    };
    let issuer = "[[issuers]]\nissuer = \"https://login.example.com\"\nalias = \"corp\"\naudiences = [\"wicket\"]\n\
                  algorithms = [\"RS256\"]\njwks_file = \"jwks.json\"\n";
    let config = dir.path().join("wicket.toml");
    std::fs::write(
        &config,
        format!(
            "{issuer}{}{}",
            entry("prod", "prod.kubeconfig", "https://k8s.example.com:6443"),
            entry(
                "prod-admin",
                "admin.kubeconfig",
                "https://k8s.example.com:6443/"
            ),
        ),
    )
    .unwrap();
    let out = wicket(&["serve", "--config", config.to_str().unwrap()], None);
    one_line_error(
        &out,
        "clusters `prod` and `prod-admin` are the same API server",
    );
}

/// Starts `wicket dev` in `dir`; returns it, its URL and alice's token.
fn wicket_dev(dir: &Path) -> (Child, String, String) {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_wicket"))
            .args(["dev", "--listen", "127.0.0.1:0", "--data"])
            .arg(dir.join("data"))
            .env("WICKET_CACHE_DIR", dir.join("cache"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start wicket dev"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let (mut url, mut token) = (None, None);
    loop {
        let line = printed
            .recv_timeout(Duration::from_secs(300))
            .expect("wicket dev prints its commands");
        if let Some(value) = line.strip_prefix("export WICKET=") {
            url = Some(value.to_owned());
        }
        if let Some(value) = line.strip_prefix("export WICKET_TOKEN=") {
            token = Some(value.to_owned());
        }
        if line == "# (end of commands)" {
            break;
        }
    }
    (child, url.unwrap(), token.unwrap())
}

#[test]
fn revoke_ends_a_grant_on_a_running_wicket_for_an_admin_only() {
    let dir = tempfile::tempdir().unwrap();
    let (_dev, url, alice) = wicket_dev(dir.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let body = r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"30m","reason":"INC-123: payments are failing"}"#;
    let (id, kubeconfig) = runtime.block_on(async {
        let created: serde_json::Value = http
            .post(format!("{url}/v1/requests"))
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(created["state"], "active", "{created}");
        let id = created["id"].as_str().unwrap().to_owned();
        let kubeconfig = http
            .get(format!("{url}/v1/requests/{id}/kubeconfig"))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        (id, kubeconfig)
    });
    let kubectl = Kubectl::new(
        &kube_sim::kubectl::on_path().expect("kubectl on PATH"),
        dir.path(),
        "alice",
        &kubeconfig,
    );
    let pods = runtime.block_on(kubectl.run(&["get", "pods", "-n", "payments"]));
    assert!(pods.success, "{}", pods.stderr);

    // alice is no admin: one line, exit 2, and her grant still works.
    let subject = [
        "revoke",
        "--subject",
        "wicket-dev",
        "alice",
        "--server",
        &url,
    ];
    let refused = wicket(&subject, Some(&alice));
    one_line_error(
        &refused,
        "403 Forbidden: the kill switch needs membership of an admin group",
    );
    let pods = runtime.block_on(kubectl.run(&["get", "pods", "-n", "payments"]));
    assert!(pods.success, "{}", pods.stderr);

    let token = Command::new(env!("CARGO_BIN_EXE_wicket"))
        .args([
            "dev",
            "token",
            "--sub",
            "root",
            "--group",
            "wicket-admins",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .output()
        .expect("run wicket dev token");
    assert!(token.status.success(), "{}", text(&token.stderr));
    let root = text(&token.stdout).trim().to_owned();
    let done = wicket(&subject, Some(&root));
    let stdout = text(&done.stdout);
    assert_eq!(
        done.status.code(),
        Some(0),
        "{stdout}{}",
        text(&done.stderr)
    );
    assert!(
        stdout.contains(&format!("revoked\t{id}\trevoked\tdev\twicket-dev\talice")),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 revoked, 0 had already ended, 0 failed, 0 in flight"),
        "{stdout}"
    );
    let after = runtime.block_on(kubectl.run(&["get", "pods", "-n", "payments"]));
    assert!(!after.success);
    assert!(
        after.stderr.contains("Unauthorized") || after.stderr.contains("401"),
        "{}",
        after.stderr
    );
}
