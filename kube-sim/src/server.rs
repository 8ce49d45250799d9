//! The HTTPS server and the [`KubeSim`] handle.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::api::{self, RequestRecord, State};
use crate::auth::{TokenSigner, UserInfo};
use crate::error::{Error, Result};
use crate::faults::Faults;
use crate::rbac::builtin;
use crate::resources::{RBAC_GROUP, lookup};
use crate::store::Store;
use crate::token_cache::TokenCache;
use crate::{kubeconfig, tls};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The admin bearer token (user `kube-sim-admin`, group `system:masters`); random when `None`.
    pub admin_token: Option<String>,
    /// Extra static bearer tokens: token → user (groups get `system:authenticated` added).
    pub static_users: BTreeMap<String, UserInfo>,
    /// Issuer of service-account tokens.
    pub issuer: String,
    /// Audiences the server accepts in service-account tokens.
    pub api_audiences: Vec<String>,
    /// Namespaces that exist at start, each with its `default` ServiceAccount.
    pub namespaces: Vec<String>,
    /// How long a successful service-account token authentication is cached, as a real API
    /// server does for 10 s (a deleted account's token works on for that long); `None` (the
    /// default): every request is authenticated afresh.
    pub token_cache_ttl: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_token: None,
            static_users: BTreeMap::new(),
            issuer: "https://kubernetes.default.svc.cluster.local".into(),
            api_audiences: vec!["https://kubernetes.default.svc.cluster.local".into()],
            namespaces: vec![
                "default".into(),
                "kube-system".into(),
                "kube-public".into(),
                "kube-node-lease".into(),
            ],
            token_cache_ttl: None,
        }
    }
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct KubeSim {
    addr: SocketAddr,
    ca_pem: String,
    admin_token: String,
    faults: Faults,
    state: Arc<State>,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

fn random_token() -> String {
    format!(
        "kube-sim-admin-{}",
        crate::store::new_uid().replace('-', "")
    )
}

fn seed(store: &mut Store, namespaces: &[String]) {
    let create = |store: &mut Store, plural: &str, group: &str, ns: &str, obj: Value| {
        if let Some(rt) = lookup(group, "v1", plural) {
            // Seeding an empty store cannot collide; an error would mean a duplicate in the seed list.
            if let Err(e) = store.create(rt, ns, obj) {
                tracing::warn!(%e, "cannot seed object");
            }
        }
    };
    for ns in namespaces {
        let obj = serde_json::json!({
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        create(store, "namespaces", "", "", obj);
        create(
            store,
            "serviceaccounts",
            "",
            ns,
            serde_json::json!({"metadata": {"name": "default"}}),
        );
    }
    for role in builtin::cluster_roles() {
        create(store, "clusterroles", RBAC_GROUP, "", role);
    }
    for binding in builtin::cluster_role_bindings() {
        create(store, "clusterrolebindings", RBAC_GROUP, "", binding);
    }
}

impl KubeSim {
    /// Generates certificates and keys, seeds the store and starts serving.
    pub async fn start(config: Config) -> Result<Self> {
        let certs = tls::generate(&[])?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.listen.to_string(),
            source,
        })?;
        let admin_token = config.admin_token.clone().unwrap_or_else(random_token);
        let mut static_tokens = BTreeMap::new();
        static_tokens.insert(
            admin_token.clone(),
            UserInfo {
                username: "kube-sim-admin".into(),
                uid: String::new(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
                extra: BTreeMap::new(),
            },
        );
        for (token, user) in &config.static_users {
            let mut user = user.clone();
            if !user.groups.iter().any(|g| g == "system:authenticated") {
                user.groups.push("system:authenticated".into());
            }
            static_tokens.insert(token.clone(), user);
        }
        let mut store = Store::default();
        seed(&mut store, &config.namespaces);
        store.take_changes();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let faults = Faults::default();
        let state = Arc::new(State {
            store: Mutex::new(store),
            signer: TokenSigner::generate(config.issuer.clone(), config.api_audiences.clone())?,
            static_tokens,
            faults: faults.clone(),
            server_address: addr.to_string(),
            shutdown: shutdown_rx.clone(),
            events: tokio::sync::broadcast::channel(1024).0,
            log: Mutex::new(Vec::new()),
            token_cache: config.token_cache_ttl.map(TokenCache::new),
        });
        let acceptor = TlsAcceptor::from(certs.server_config.clone());
        let task = tokio::spawn(serve(listener, acceptor, state.clone(), shutdown_rx));
        tracing::info!(%addr, "kube-sim listening");
        Ok(Self {
            addr,
            ca_pem: certs.ca_pem,
            admin_token,
            faults,
            state,
            shutdown,
            task: Mutex::new(Some(task)),
        })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The admin bearer token (`system:masters`).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// An admin kubeconfig whose cluster, user and context are named `context_name`.
    pub fn kubeconfig(&self, context_name: &str) -> Result<String> {
        self.kubeconfig_with_token(context_name, &self.admin_token)
    }

    /// A kubeconfig for this server authenticating with `token`.
    pub fn kubeconfig_with_token(&self, context_name: &str, token: &str) -> Result<String> {
        kubeconfig::render(context_name, &self.url(), &self.ca_pem, token)
    }

    /// Writes the admin kubeconfig (context `kube-sim`) to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        let text = self.kubeconfig("kube-sim")?;
        std::fs::write(path, text).map_err(|source| Error::Kubeconfig {
            path: path.display().to_string(),
            source,
        })
    }

    /// Fault and latency injection rules.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Every request served so far, in order (user, method, path, RBAC attributes, status code):
    /// lets tests assert what a client did, e.g. that a teardown deleted the ServiceAccount first.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.state
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Empties the request log.
    pub fn clear_request_log(&self) {
        self.state
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The stored objects of `resource` in `api_group` (in `namespace`, or everywhere when empty),
    /// read without going through HTTP or RBAC: for "nothing left behind" assertions.
    pub fn objects(
        &self,
        api_group: &str,
        resource: &str,
        namespace: &str,
    ) -> Vec<serde_json::Value> {
        let Some(rt) = lookup(api_group, "v1", resource) else {
            return Vec::new();
        };
        self.state
            .store()
            .list(rt, namespace, &Default::default(), &Default::default())
    }

    /// Mints a service-account token directly (the account must exist), as TokenRequest would.
    pub fn token_for(&self, namespace: &str, name: &str, lifetime_secs: i64) -> Option<String> {
        let sa_rt = lookup("", "v1", "serviceaccounts")?;
        let uid = crate::store::meta_str(self.state.store().get(sa_rt, namespace, name)?, "uid")
            .to_owned();
        let aud = self.state.signer.api_audiences.clone();
        self.state
            .signer
            .mint(namespace, name, &uid, aud, lifetime_secs)
            .map(|(t, _)| t)
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
    }
}

async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<State>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|down| *down) => break,
        };
        let Ok((tcp, peer)) = accepted else { continue };
        let (acceptor, state) = (acceptor.clone(), state.clone());
        connections.spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::debug!(%peer, %e, "tls handshake failed");
                    return;
                }
            };
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(api::handle(state, req).await) }
            });
            if let Err(e) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(%peer, %e, "connection ended with an error");
            }
        });
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}
