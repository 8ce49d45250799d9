//! `wicket serve` reviews its own permissions and bindable roles before serving: run with more
//! than the shipped RBAC gives (here the cluster admin), or with a bindable role whose
//! ClusterRole holds a rule never granted (upstream `edit`), it refuses to start and says what
//! to remove; `allow_excess_privileges = true` lets an operator start anyway.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kube_sim::KubeSim;

/// Writes the shipped policies and a configuration for `sim` connecting with `kubeconfig`;
/// `extra` is added to the cluster entry.
fn config(dir: &Path, sim: &KubeSim, kubeconfig: &Path, extra: &str) -> std::path::PathBuf {
    for (name, bytes) in wicket::embedded::ALL {
        std::fs::write(dir.join(format!("{}.wasm", name.replace('-', "_"))), bytes).unwrap();
    }
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, sim.ca_pem()).unwrap();
    let text = format!(
        r#"listen = "127.0.0.1:0"
dev = true
[data]
path = "{dir}/wicket.db"
[[issuers]]
issuer = "wicket-dev"
alias = "dev"
audiences = ["wicket"]
algorithms = ["HS256"]
hs256_secret = "0123456789abcdef0123456789abcdef"
[[clusters]]
name = "dev"
kubeconfig = "{kubeconfig}"
server = "{server}"
ca_file = "{ca}"
{extra}
[[clusters.policies]]
name = "groups"
module = "{dir}/group_access.wasm"
[clusters.policies.settings]
allow = [{{ groups = ["dev:sre"], clusters = ["dev"], namespaces = ["payments"], roles = ["view"], max_ttl_seconds = 600 }}]
"#,
        dir = dir.display(),
        kubeconfig = kubeconfig.display(),
        server = sim.url(),
        ca = ca.display(),
    );
    let path = dir.join("wicket.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `wicket serve` until it exits, or for at most `limit`: `None` when it was still
/// serving then (it is killed).
fn serve(config: &Path, dir: &Path, limit: Duration) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wicket"))
        .args(["serve", "--config"])
        .arg(config)
        .env("WICKET_CACHE_DIR", dir.join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wicket serve");
    let started = Instant::now();
    while started.elapsed() < limit {
        if child.try_wait().expect("poll wicket serve").is_some() {
            return Some(child.wait_with_output().expect("its output"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn wicket_refuses_to_serve_with_more_privileges_than_it_needs() {
    let sim = KubeSim::start(kube_sim::Config::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("admin.kubeconfig");
    sim.write_kubeconfig(&admin).unwrap();
    wicket::dev::install_wicket(&sim.kubeconfig("admin").unwrap(), &[])
        .await
        .unwrap();

    let path = config(dir.path(), &sim, &admin, "");
    let dir_path = dir.path().to_owned();
    let refused =
        tokio::task::spawn_blocking(move || serve(&path, &dir_path, Duration::from_secs(120)))
            .await
            .unwrap()
            .expect("wicket serve exits");
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let text = stderr(&refused);
    for named in [
        "wicket holds more than it needs",
        "remove `*` from verbs, resources and API groups",
        "remove `escalate`",
        "remove `impersonate`",
        "`bind` on ClusterRoles other than the cluster's `roles`",
        "refusing to start",
    ] {
        assert!(text.contains(named), "`{named}` not in {text}");
    }

    // The operator may say so explicitly: then it serves (and keeps serving).
    let path = config(dir.path(), &sim, &admin, "allow_excess_privileges = true");
    let dir_path = dir.path().to_owned();
    let serving =
        tokio::task::spawn_blocking(move || serve(&path, &dir_path, Duration::from_secs(10)))
            .await
            .unwrap();
    assert!(
        serving.is_none(),
        "it exited: {}",
        serving.as_ref().map(stderr).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wicket_refuses_to_serve_a_bindable_role_that_holds_a_rule_never_granted() {
    let sim = KubeSim::start(kube_sim::Config::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    wicket::dev::install_wicket(&sim.kubeconfig("admin").unwrap(), &[])
        .await
        .unwrap();
    let token = sim.token_for("wicket-system", "wicket", 3600).unwrap();
    let kubeconfig = dir.path().join("wicket.kubeconfig");
    std::fs::write(
        &kubeconfig,
        sim.kubeconfig_with_token("wicket", &token).unwrap(),
    )
    .unwrap();
    // Upstream `edit` mints tokens, impersonates and reads secrets.
    let path = config(
        dir.path(),
        &sim,
        &kubeconfig,
        r#"roles = { view = "wicket-view", edit = "edit" }"#,
    );
    let dir_path = dir.path().to_owned();
    let refused =
        tokio::task::spawn_blocking(move || serve(&path, &dir_path, Duration::from_secs(120)))
            .await
            .unwrap()
            .expect("wicket serve exits");
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let text = stderr(&refused);
    assert!(
        text.contains("role `edit`: ClusterRole `edit` holds"),
        "{text}"
    );
}
