//! Two `wicket serve` processes (replicas `a` and `b`) on one SQLite file and one kube-sim,
//! each with its own module file for the `groups` entry and no file watcher: a reload asked of
//! `a` reloads `b` too (through the reload generation in the database), `GET /v1/policies`
//! lists both replicas with what they serve, a replica whose module differs from the current
//! generation's is not ready (and ready again once its file matches), and a promotion asked
//! of `a` makes `b` decide with the promoted candidate.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube_sim::KubeSim;
use serde_json::{Value, json};

/// Far more than any start or reload takes, so that a slow shared machine cannot fail the
/// tests; they wait for events, never for a time.
const PATIENCE: Duration = Duration::from_secs(120);
const SECRET: &str = "test-only-secret-of-at-least-32-bytes-long";
const VIEW_ORDERS: &str =
    r#"{"cluster":"dev","namespaces":["orders"],"role":"view","duration":"10m","reason":"INC-1"}"#;

/// Kills the process when the test ends, however it ends.
struct Replica {
    child: std::process::Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(sub: &str, groups: &[&str]) -> String {
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({"iss": "wicket-test", "aud": "wicket", "sub": sub, "exp": now + 600,
        "iat": now, "groups": groups});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign a test token")
}

fn admin() -> String {
    token("root", &["wicket-admins"])
}

/// `bytes` (a component) with a custom section named `tag` appended: a module that decides
/// the same with another digest.
fn marked(bytes: &[u8], tag: &str) -> Vec<u8> {
    let name = format!("wicket-test-{tag}");
    let mut content = vec![u8::try_from(name.len()).unwrap()];
    content.extend_from_slice(name.as_bytes());
    let mut out = bytes.to_vec();
    out.push(0);
    let mut size = content.len();
    loop {
        let byte = u8::try_from(size & 0x7f).unwrap();
        size >>= 7;
        if size == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(&content);
    out
}

/// Replaces `path` with `bytes` at once (write beside it, then rename).
fn replace(path: &Path, bytes: &[u8]) {
    let temp = path.with_extension("partial");
    std::fs::write(&temp, bytes).expect("write");
    std::fs::rename(&temp, path).expect("rename");
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

struct Setup {
    dir: tempfile::TempDir,
    _sim: KubeSim,
    /// The group-access module as shipped.
    groups: Vec<u8>,
}

impl Setup {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let sim = KubeSim::start(kube_sim::Config {
            namespaces: [
                "default",
                "kube-system",
                "payments",
                "orders",
                "wicket-system",
            ]
            .iter()
            .map(|n| (*n).to_owned())
            .collect(),
            ..kube_sim::Config::default()
        })
        .await
        .expect("start kube-sim");
        let root = dir.path();
        let admin = sim.kubeconfig("admin").expect("the admin kubeconfig");
        wicket::dev::install_wicket(&admin, &wicket::dev::SAMPLE_NAMESPACES)
            .await
            .expect("install wicket's rbac");
        let (namespace, name) = wicket::cluster::WICKET_ACCOUNT;
        let sa_token = sim.token_for(namespace, name, 24 * 3600).expect("a token");
        let kubeconfig = root.join("wicket.kubeconfig");
        std::fs::write(
            &kubeconfig,
            sim.kubeconfig_with_token("wicket", &sa_token)
                .expect("wicket's kubeconfig"),
        )
        .unwrap();
        let ca = root.join("kube-sim-ca.pem");
        std::fs::write(&ca, sim.ca_pem()).unwrap();
        let groups = wicket::embedded::ALL
            .iter()
            .find(|(name, _)| *name == "group-access")
            .expect("the shipped group-access module")
            .1
            .to_vec();
        let candidate = root.join("candidate.wasm");
        std::fs::write(&candidate, &groups).unwrap();
        for replica in ["a", "b"] {
            std::fs::write(root.join(format!("groups-{replica}.wasm")), &groups).unwrap();
            let config = CONFIG
                .replace("{data}", &root.join("data").display().to_string())
                .replace("{secret}", SECRET)
                .replace("{kubeconfig}", &kubeconfig.display().to_string())
                .replace("{server}", &sim.url())
                .replace("{ca}", &ca.display().to_string())
                .replace("{root}", &root.display().to_string())
                .replace("{replica}", replica);
            std::fs::write(root.join(format!("wicket-{replica}.toml")), config).unwrap();
        }
        Self {
            dir,
            _sim: sim,
            groups,
        }
    }

    fn module(&self, replica: &str) -> PathBuf {
        self.dir.path().join(format!("groups-{replica}.wasm"))
    }

    /// Starts replica `id` and waits until it answers.
    async fn start(&self, id: &str) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let config = self.dir.path().join(format!("wicket-{id}.toml"));
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            text.replace("127.0.0.1:0", &format!("127.0.0.1:{port}")),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_wicket"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("WICKET_REPLICA", id)
            .env("WICKET_CACHE_DIR", self.dir.path().join("cache"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start wicket serve");
        let replica = Replica {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_for(&format!("replica `{id}` to answer"), || async {
            call(&replica, "GET", "/healthz", None).await.0 == 200
        })
        .await;
        replica
    }
}

const CONFIG: &str = r#"
listen = "127.0.0.1:0"
dev = true
admin_groups = ["test:wicket-admins"]
auditor_groups = ["test:auditors"]

[data]
path = "{data}/wicket.db"

# The test polls every replica until what it waits for happens: the per-source limit before
# authentication must not be what it sees.
[limits]
source_requests_per_minute = 600000
source_burst = 10000

[reload]
watch = false

[[issuers]]
alias = "test"
issuer = "wicket-test"
audiences = ["wicket"]
algorithms = ["HS256"]
hs256_secret = "{secret}"
leeway = "0s"

[[clusters]]
name = "dev"
kubeconfig = "{kubeconfig}"
server = "{server}"
ca_file = "{ca}"

[[clusters.policies]]
name = "groups"
module = "{root}/groups-{replica}.wasm"
candidate = "{root}/candidate.wasm"
[clusters.policies.settings]
allow = [{ groups = ["test:sre"], clusters = ["dev"], namespaces = ["payments", "orders"], roles = ["view", "edit"], max_ttl_seconds = 3600 }]
[clusters.policies.candidate_settings]
allow = [
  { groups = ["test:sre"], clusters = ["dev"], namespaces = ["payments", "orders"], roles = ["view", "edit"], max_ttl_seconds = 3600 },
  { groups = ["test:developers"], clusters = ["dev"], namespaces = ["orders"], roles = ["view"], max_ttl_seconds = 600 },
]
"#;

async fn call(replica: &Replica, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client
        .request(method.parse().unwrap(), format!("{}{path}", replica.base))
        .bearer_auth(admin());
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn policies(replica: &Replica) -> Value {
    let (status, body) = call(replica, "GET", "/v1/policies", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The digest `replica` serves for `groups`, as it says itself.
async fn serving(replica: &Replica) -> String {
    policies(replica).await["clusters"]["dev"]["chain"][0]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The replicas `replica` lists, by id: (reload generation applied, in step).
async fn listed(replica: &Replica) -> Vec<(String, u64, bool)> {
    policies(replica).await["replicas"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_owned(),
                r["reload_generation"].as_u64().unwrap_or_default(),
                r["in_step"].as_bool().unwrap_or_default(),
            )
        })
        .collect()
}

async fn ready(replica: &Replica) -> (u16, Value) {
    call(replica, "GET", "/readyz", None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_or_promotion_on_one_replica_reaches_the_other_and_a_differing_one_is_not_ready() {
    let setup = Setup::new().await;
    let a = setup.start("a").await;
    let b = setup.start("b").await;
    let first = digest(&setup.groups);
    wait_for("both replicas listed in step", || async {
        let listed = listed(&a).await;
        listed.len() == 2 && listed[0].0 == "a" && listed[1].0 == "b" && listed.iter().all(|r| r.2)
    })
    .await;
    let view = policies(&b).await;
    assert_eq!(view["replica"], "b", "{view:#}");
    let generation = view["reload_generation"]["generation"].as_u64().unwrap();
    assert_eq!(
        view["reload_generation"]["digests"]["dev"][0]["digest"], first,
        "{view:#}"
    );
    // Requesters see no replicas (their ids are pod names, their digests name modules).
    let outline = reqwest::Client::new()
        .get(format!("{}/v1/policies", b.base))
        .bearer_auth(token("bob", &["developers"]))
        .send()
        .await
        .expect("an answer")
        .json::<Value>()
        .await
        .expect("json");
    assert!(
        outline.get("replicas").is_none() && outline.get("reload_generation").is_none(),
        "{outline:#}"
    );
    for replica in [&a, &b] {
        wait_for("both replicas ready", || async {
            ready(replica).await.0 == 200
        })
        .await;
    }

    // Both files change; only `a` is asked to reload, and `b` (no watcher) follows.
    let second = marked(&setup.groups, "2");
    replace(&setup.module("a"), &second);
    replace(&setup.module("b"), &second);
    let (status, report) = call(&a, "POST", "/v1/policies/reload", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["swapped"], true, "{report}");
    wait_for("`b` serving the new module", || async {
        serving(&b).await == digest(&second)
    })
    .await;
    let view = policies(&b).await;
    let published = view["reload_generation"]["generation"].as_u64().unwrap();
    assert!(published > generation, "{view:#}");
    assert_eq!(view["reload_generation"]["replica"], "a", "{view:#}");
    assert_eq!(view["reload_generation"]["trigger"], "api", "{view:#}");
    wait_for("both replicas listed at the new generation", || async {
        listed(&a).await.iter().all(|r| r.1 == published && r.2)
    })
    .await;

    // Only `a`'s file changes: `b` follows, still serves its old module and is not ready.
    let third = marked(&setup.groups, "3");
    replace(&setup.module("a"), &third);
    let (status, report) = call(&a, "POST", "/v1/policies/reload", None).await;
    assert_eq!(status, 200, "{report}");
    let started = Instant::now();
    let reason = loop {
        let (status, body) = ready(&b).await;
        if status == 503 {
            break body;
        }
        assert!(started.elapsed() < PATIENCE, "`b` stays ready: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let message = reason["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("differ from reload generation")
            && message.contains("replica `a`")
            && message.contains("policy `groups`")
            && message.contains(&digest(&second)[..12])
            && message.contains(&digest(&third)[..12]),
        "{reason}"
    );
    assert_eq!(ready(&a).await.0, 200);
    wait_for("`a` listing `b` out of step", || async {
        listed(&a).await.iter().any(|r| r.0 == "b" && !r.2)
    })
    .await;
    // Its file fixed and reloaded (on `b`), it is ready again, and `a` still is.
    replace(&setup.module("b"), &third);
    let (status, report) = call(&b, "POST", "/v1/policies/reload", None).await;
    assert_eq!(status, 200, "{report}");
    wait_for("`b` ready again", || async { ready(&b).await.0 == 200 }).await;
    wait_for("both in step", || async {
        let listed = listed(&b).await;
        listed.len() == 2 && listed.iter().all(|r| r.2)
    })
    .await;
    assert_eq!(ready(&a).await.0, 200);

    // Bob (developers) is refused by the active settings; a promotion on `a` lets `b` allow him.
    let bob = |replica: &Replica| {
        let client = reqwest::Client::new();
        let request = client
            .post(format!("{}/v1/requests", replica.base))
            .bearer_auth(token("bob", &["developers"]))
            .header("content-type", "application/json")
            .body(VIEW_ORDERS);
        async move {
            request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(bob(&b).await, 403);
    let (status, promoted) = call(&a, "POST", "/v1/policies/groups/promote", None).await;
    assert_eq!(status, 200, "{promoted}");
    wait_for("`b` serving the promotion", || async {
        policies(&b).await["clusters"]["dev"]["chain"][0]["promoted"] == true
    })
    .await;
    assert_eq!(bob(&b).await, 201);
    assert_eq!(
        policies(&b).await["reload_generation"]["trigger"],
        "promote"
    );

    // A replica that stops leaves the registry at once.
    let pid = b.child.id();
    let stopped = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    wait_for("`b` gone from the registry", || async {
        listed(&a).await.iter().map(|r| r.0.as_str()).eq(["a"])
    })
    .await;
    drop(b);
    drop(a);
}
