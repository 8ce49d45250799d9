//! One test environment: a kube-sim, a data directory, the shipped policies on disk, and the
//! test configuration; Wicket services are started (and restarted) on it.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube_sim::KubeSim;
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wicket::app::{KubeClusters, PolicyChains};
use wicket::app::{Listeners, Service};
use wicket::config::{Config, PolicyConfig};
use wicket::policy::{EngineConfig, PolicyEngine};
use wicket::workflow::Decider;

use crate::native::NativeChain;
use crate::tokens::{METRICS_TOKEN, SECRET};

/// The test configuration's template: `fixtures/wicket.toml`, whose `{...}` [`Env::start_with`]
/// fills in.
pub const CONFIG: &str = include_str!("../fixtures/wicket.toml");

/// [`CONFIG`] with the `groups` entry as a gate: `on_deny = "stop"`, so its deny ends the chain.
pub fn gated_config() -> String {
    let gated = CONFIG.replacen(
        "name = \"groups\"\n",
        "name = \"groups\"\non_deny = \"stop\"\n",
        1,
    );
    assert_ne!(
        gated, CONFIG,
        "the test configuration names a `groups` entry"
    );
    gated
}

/// Installs `examples/deploy/wicket-rbac.yaml` as kube-sim's admin and writes the kubeconfig
/// of the ServiceAccount it gives Wicket: Wicket connects with exactly the shipped RBAC.
async fn install_wicket(sim: &KubeSim, root: &Path) -> PathBuf {
    let admin = sim.kubeconfig("admin").expect("the admin kubeconfig");
    wicket::dev::install_wicket(&admin, &wicket::dev::SAMPLE_NAMESPACES)
        .await
        .expect("install wicket's rbac");
    let (namespace, name) = wicket::cluster::WICKET_ACCOUNT;
    let token = sim
        .token_for(namespace, name, 24 * 3600)
        .expect("wicket's token");
    let path = root.join("wicket.kubeconfig");
    std::fs::write(
        &path,
        sim.kubeconfig_with_token("wicket", &token)
            .expect("wicket's kubeconfig"),
    )
    .expect("write wicket's kubeconfig");
    path
}

/// The namespaces kube-sim starts with.
pub const NAMESPACES: [&str; 5] = [
    "default",
    "kube-system",
    "payments",
    "orders",
    "wicket-system",
];

/// kube-sim, a data directory and the configuration.
pub struct Env {
    /// Temporary files: data, policies, kubeconfigs.
    pub dir: TempDir,
    /// The simulated cluster.
    pub sim: KubeSim,
    /// The parsed configuration.
    pub config: Config,
}

/// Polls `check` every 20 ms until it holds; panics after a generous `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Env {
    /// Starts kube-sim and writes the configuration with a reconciler interval of `reconcile`.
    pub async fn start(reconcile: &str) -> Self {
        Self::start_with(CONFIG, reconcile).await
    }

    /// Like [`Env::start`] with the configuration template `config` (the `{...}` of
    /// `fixtures/wicket.toml` are filled in).
    pub async fn start_with(config: &str, reconcile: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let sim = KubeSim::start(kube_sim::Config {
            namespaces: NAMESPACES.iter().map(|n| (*n).to_owned()).collect(),
            ..kube_sim::Config::default()
        })
        .await
        .expect("start kube-sim");
        let root = dir.path();
        let policies = root.join("policies");
        std::fs::create_dir_all(&policies).expect("a policies directory");
        for (name, bytes) in wicket::embedded::ALL {
            std::fs::write(
                policies.join(format!("{}.wasm", name.replace('-', "_"))),
                bytes,
            )
            .expect("write a policy");
        }
        let kubeconfig = install_wicket(&sim, root).await;
        let ca = root.join("kube-sim-ca.pem");
        std::fs::write(&ca, sim.ca_pem()).expect("write the CA");
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let text = config
            .replace("{data}", &root.join("data").display().to_string())
            .replace("{reconcile}", reconcile)
            .replace("{secret}", SECRET)
            .replace("{fixtures}", &fixtures.display().to_string())
            .replace("{kubeconfig}", &kubeconfig.display().to_string())
            .replace("{server}", &sim.url())
            .replace("{ca}", &ca.display().to_string())
            .replace("{policies}", &policies.display().to_string());
        let path = root.join("wicket.toml");
        std::fs::write(&path, &text).expect("write the configuration");
        let config = Config::load(&path).expect("the test configuration is valid");
        Self { dir, sim, config }
    }

    /// The data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The `dev` cluster's chain entry `name`.
    pub fn policy(&self, name: &str) -> &PolicyConfig {
        self.config.clusters[0]
            .policies
            .iter()
            .find(|p| p.name == name)
            .expect("a configured policy")
    }

    /// The policy settings of the `dev` cluster's chain entry `name`.
    pub fn settings(&self, name: &str) -> Value {
        Value::Object(self.policy(name).settings.clone())
    }

    /// The configured chains, as WebAssembly components on the policy engine (compiled
    /// modules cached in the environment's directory).
    pub fn wasm_chain(&self) -> Arc<dyn Decider> {
        Arc::new(
            PolicyChains::load(self.engine(), &self.config.clusters)
                .expect("the configured chains load"),
        )
    }

    /// A policy engine caching compiled modules in the environment's directory.
    pub fn engine(&self) -> Arc<PolicyEngine> {
        Arc::new(
            PolicyEngine::new(&EngineConfig {
                cache_dir: Some(self.dir.path().join("module-cache")),
                ..EngineConfig::default()
            })
            .expect("a policy engine"),
        )
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("wicket.toml")
    }

    /// The configured chains, live: reloads re-read the configuration file and the modules.
    pub fn live_chains(&self) -> Arc<PolicyChains> {
        Arc::new(
            PolicyChains::from_config_file(self.engine(), &self.config_path(), &self.config)
                .expect("the configured chains load"),
        )
    }

    /// The sample chain, natively (stopping after a `groups` deny if the configuration's
    /// chain does).
    pub fn native_chain(&self) -> Arc<dyn Decider> {
        Arc::new(
            NativeChain::new(&self.settings("groups"), &self.settings("tickets"))
                .expect("valid settings")
                .with_groups_on_deny(self.policy("groups").on_deny),
        )
    }

    /// Builds, starts (recovery + reconciler) and serves Wicket on `127.0.0.1:0` (HTTPS with
    /// `[tls]`), and `/metrics` on a listener of its own if `metrics.listen` (a loopback
    /// address) is configured.
    pub async fn serve(&self, decider: Arc<dyn Decider>) -> Running {
        self.serve_with(&self.config, decider).await
    }

    /// The configuration of another installation of Wicket on the same cluster: its own
    /// database (in `data-<name>`), the same cluster entry, JIT namespace and policies.
    pub fn other_installation(&self, name: &str) -> Config {
        let mut config = self.config.clone();
        config.data.path = self
            .dir
            .path()
            .join(format!("data-{name}"))
            .join("wicket.db");
        config
    }

    /// Like [`Env::serve`] with `config`.
    pub async fn serve_with(&self, config: &Config, decider: Arc<dyn Decider>) -> Running {
        let clusters = KubeClusters::connect(&config.clusters)
            .await
            .expect("connect to kube-sim");
        for cluster in &config.clusters {
            // A cluster made unreachable by a test's faults is reviewed again on the request
            // path; one that answers must find exactly the shipped RBAC.
            let Ok(found) = clusters.review(&cluster.name).await else {
                continue;
            };
            assert!(
                !found.refuses(false) && found.missing.is_empty(),
                "wicket runs with exactly the shipped RBAC: {found:?}"
            );
        }
        let service = Service::build(config, decider, Arc::new(clusters))
            .await
            .expect("build the service");
        service.start().await.expect("start the service");
        let api = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!(
            "{}://{}",
            service.scheme(),
            api.local_addr().expect("an address")
        );
        let metrics = match self.config.metrics.listen {
            Some(addr) => {
                assert!(addr.ip().is_loopback(), "tests listen on loopback only");
                Some(TcpListener::bind(addr).await.expect("bind loopback"))
            }
            None => None,
        };
        let metrics_base = metrics
            .as_ref()
            .map(|m| format!("http://{}", m.local_addr().expect("an address")));
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = service.clone();
        let task = tokio::spawn(async move {
            serving
                .serve(Listeners { api, metrics }, async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        Running {
            service,
            base,
            metrics_base,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task,
        }
    }

    /// Every object on the cluster labelled as managed by Wicket (by any installation), as
    /// `Kind ns/name`, read from kube-sim's store.
    pub async fn labelled_objects(&self) -> Vec<String> {
        self.wicket_objects()
            .into_iter()
            .map(|(object, _)| object)
            .collect()
    }

    /// Every object on the cluster labelled as managed by Wicket (by any installation), as
    /// `Kind ns/name` with its labels, read from kube-sim's store.
    pub fn wicket_objects(&self) -> Vec<(String, BTreeMap<String, String>)> {
        let kinds = [
            ("ServiceAccount", "", "serviceaccounts"),
            ("RoleBinding", "rbac.authorization.k8s.io", "rolebindings"),
            ("Role", "rbac.authorization.k8s.io", "roles"),
            (
                "ClusterRoleBinding",
                "rbac.authorization.k8s.io",
                "clusterrolebindings",
            ),
            ("ClusterRole", "rbac.authorization.k8s.io", "clusterroles"),
        ];
        let mut found = Vec::new();
        for (kind, group, resource) in kinds {
            for object in self.sim.objects(group, resource, "") {
                let meta = &object["metadata"];
                let labels: BTreeMap<String, String> =
                    serde_json::from_value(meta["labels"].clone()).unwrap_or_default();
                if labels
                    .get("app.kubernetes.io/managed-by")
                    .map(String::as_str)
                    != Some("wicket")
                {
                    continue;
                }
                let name = format!(
                    "{kind} {}/{}",
                    meta["namespace"].as_str().unwrap_or_default(),
                    meta["name"].as_str().unwrap_or_default()
                );
                found.push((name, labels));
            }
        }
        found
    }
}

/// A running Wicket.
pub struct Running {
    /// The service.
    pub service: Service,
    /// `http://127.0.0.1:<port>` (`https` with `[tls]`).
    pub base: String,
    /// `http://127.0.0.1:<port>` of the metrics listener, if one is configured.
    pub metrics_base: Option<String>,
    /// A client (replace it with one trusting the test CA when serving HTTPS).
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// A response: status and body (JSON when it parses, else `Null`) and the raw text.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body as JSON, or `Null`.
    pub json: Value,
    /// The body as text.
    pub text: String,
}

impl Running {
    /// Sends `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.expect("wicket answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// Asks for `body` with `token`, expects it granted (201, `active`) and fetches its
    /// kubeconfig: the request id and the kubeconfig's text.
    pub async fn grant(&self, token: &str, body: &str) -> (String, String) {
        let created = self
            .call("POST", "/v1/requests", Some(token), Some(body))
            .await;
        assert_eq!(created.status, 201, "{body}: {}", created.text);
        assert_eq!(created.json["state"], "active", "{}", created.text);
        let id = created.json["id"].as_str().expect("an id").to_owned();
        let issued = self
            .call(
                "GET",
                &format!("/v1/requests/{id}/kubeconfig"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(issued.status, 200, "{}", issued.text);
        (id, issued.text)
    }

    /// `GET /metrics` on the API with the metrics token of `fixtures/metrics-token`: the
    /// Prometheus text.
    pub async fn metrics(&self) -> String {
        let response = self
            .http
            .get(format!("{}/metrics", self.base))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .expect("wicket answers");
        assert_eq!(response.status(), 200, "`/metrics` with the metrics token");
        response.text().await.expect("a body")
    }

    /// The state of request `id`, read from the store.
    pub async fn state(&self, id: &str) -> String {
        self.service
            .workflow()
            .store()
            .get_request(id)
            .await
            .expect("a stored request")
            .state
            .to_string()
    }

    /// Stops serving gracefully and waits.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Drops the service abruptly, as a crash would: the server task and every timer stop;
    /// requests in flight are left where they are.
    pub fn kill(self) {
        self.task.abort();
        self.service.workflow().shutdown();
    }
}

/// Reads a file into a string.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
