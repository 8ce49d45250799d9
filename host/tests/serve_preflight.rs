//! `wicket serve` reviews its own permissions and bindable roles before serving: run with more
//! than the shipped RBAC gives (here the cluster admin), or with a bindable role whose
//! ClusterRole holds a rule never granted (upstream `edit`), it refuses to start and says what
//! to remove; `allow_excess_privileges = true` lets an operator start anyway.

use std::path::Path;
use std::process::{Command, Stdio};
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

/// How `wicket serve` ended up: its exit code (`None`: it was serving when stopped) and what
/// it wrote to stderr.
struct Ran {
    code: Option<i32>,
    stderr: String,
}

/// Runs `wicket serve` until it exits, until it says it is serving (then stops it), or for at
/// most `limit`. Its stderr goes to a file, so a chatty start never blocks on a full pipe.
fn serve(config: &Path, dir: &Path, limit: Duration) -> Ran {
    let log = dir.join("serve.stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wicket"))
        .args(["serve", "--config"])
        .arg(config)
        .env("WICKET_CACHE_DIR", dir.join("cache"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log file"))
        .spawn()
        .expect("start wicket serve");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("poll wicket serve") {
            return Ran {
                code: status.code(),
                stderr: read(),
            };
        }
        if read().contains("wicket: serving on ") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Ran {
        code: None,
        stderr: read(),
    }
}

/// [`serve`] off the async runtime.
async fn run(config: std::path::PathBuf, dir: &Path) -> Ran {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || serve(&config, &dir, Duration::from_secs(300)))
        .await
        .expect("wicket serve ran")
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

    let refused = run(config(dir.path(), &sim, &admin, ""), dir.path()).await;
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    for named in [
        "wicket holds more than it needs",
        "remove `*` from verbs",
        "remove `*` from resources",
        "remove `*` from API groups",
        "remove `escalate`",
        "remove `impersonate`",
        "`bind` on ClusterRoles other than the cluster's `roles`",
        "refusing to start",
    ] {
        assert!(
            refused.stderr.contains(named),
            "`{named}` not in {}",
            refused.stderr
        );
    }

    // The operator may say so explicitly: then it serves.
    let extra = "allow_excess_privileges = true";
    let serving = run(config(dir.path(), &sim, &admin, extra), dir.path()).await;
    assert_eq!(serving.code, None, "it exited: {}", serving.stderr);
    assert!(
        serving.stderr.contains("wicket: serving on "),
        "{}",
        serving.stderr
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
    let roles = r#"roles = { view = "wicket-view", edit = "edit" }"#;
    let refused = run(config(dir.path(), &sim, &kubeconfig, roles), dir.path()).await;
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("role `edit`: ClusterRole `edit` holds"),
        "{}",
        refused.stderr
    );
}
