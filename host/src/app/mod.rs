//! The service assembled from a configuration: store, authenticator, workflow (with its
//! policy chains and clusters) and the REST API, served on a TCP listener (over TLS when
//! `[tls]` is configured), and `/metrics` on a listener of its own when configured. Each
//! service is one replica (`replica.rs`) among those sharing its database.

mod chains;
mod clusters;
mod preflight;
mod reloads;
pub mod replica;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::api::tls::{self, Tls};
use crate::api::{self, AppState, AuthFailures, MetricsAccess, MetricsToken};
use crate::audit::{self, AnchorKey, anchor::KeyError, exporter};
use crate::auth::{self, Authenticator};
use crate::config::{Config, Reload};
use crate::store::{self, Store};
use crate::workflow::{self, Clusters, Decider, Settings, Sweep, Workflow};

pub use chains::{LoadError, PolicyChains};
pub use clusters::KubeClusters;
pub use preflight::Preflight;
pub use reloads::WatchSettings;
pub use replica::Replica;

/// Why the service could not be set up or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be opened.
    #[error("cannot open the store")]
    Store(#[source] store::Error),
    /// An issuer's keys could not be loaded.
    #[error("cannot load the token issuers' keys")]
    Auth(#[source] auth::LoadError),
    /// Start-up recovery failed.
    #[error("cannot recover the requests of a previous run")]
    Recover(#[source] workflow::Error),
    /// The policy files cannot be watched.
    #[error("cannot watch the policy files")]
    Watch(#[source] notify::Error),
    /// The TLS certificate, key or client CA cannot be used.
    #[error("cannot set up tls")]
    Tls(#[source] tls::Error),
    /// The metrics token file cannot be used.
    #[error(transparent)]
    MetricsToken(api::TokenError),
    /// The audit key cannot be used.
    #[error("cannot use the audit key")]
    AuditKey(#[source] KeyError),
    /// An audit sink cannot be used.
    #[error("cannot export the audit log")]
    AuditSink(#[source] audit::Error),
    /// The replica id is not usable.
    #[error(transparent)]
    ReplicaId(replica::BadReplicaId),
    /// This replica could not join the others (record its heartbeat, publish or adopt the
    /// reload generation).
    #[error("cannot join the replicas")]
    Join(#[source] store::Error),
    /// The listener failed.
    #[error("cannot serve http")]
    Serve(#[source] std::io::Error),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the service listens: the API and, optionally, `/metrics` alone.
#[derive(Debug)]
pub struct Listeners {
    /// The REST API (TLS on it when configured).
    pub api: TcpListener,
    /// `/metrics` only, in plain HTTP.
    pub metrics: Option<TcpListener>,
}

impl From<TcpListener> for Listeners {
    fn from(api: TcpListener) -> Self {
        Self { api, metrics: None }
    }
}

/// The audit exporter of the service's store.
type Exporter = exporter::Exporter<Arc<dyn Store>>;

/// The assembled service.
#[derive(Debug, Clone)]
pub struct Service {
    workflow: Workflow,
    replica: Replica,
    state: AppState,
    metrics: MetricsAccess,
    tls: Option<Tls>,
    reload: Reload,
    /// The service's own tasks: the one writing closed windows of failed authentications to
    /// the audit log, the file watcher and the `SIGHUP` handler.
    background: Arc<Mutex<Vec<AbortHandle>>>,
    /// The audit exporter (with `[audit]`), until started.
    exporter: Arc<Mutex<Option<Exporter>>>,
    /// The audit exporter, once started.
    exporting: Arc<Mutex<Option<exporter::Running>>>,
}

impl Service {
    /// Opens the store and builds the workflow and API for `config`, deciding with `decider`
    /// and provisioning on `clusters`. Nothing runs until [`Service::start`].
    pub async fn build(
        config: &Config,
        decider: Arc<dyn Decider>,
        clusters: Arc<dyn Clusters>,
    ) -> Result<Self> {
        let store = store::open(&config.data).await.map_err(Error::Store)?;
        let auth = Authenticator::new(&config.issuers).map_err(Error::Auth)?;
        let replica_id = replica::replica_id().map_err(Error::ReplicaId)?;
        let settings = Settings {
            max_duration: config.expiry.max_duration,
            retry_interval: config.expiry.retry_interval,
            retry_max_interval: config.expiry.retry_max_interval,
            provision_timeout: config.expiry.provision_timeout,
            reconcile_interval: config.reconcile.interval,
            replica: replica_id.clone(),
            claim_lease: Settings::CLAIM_LEASE,
            claim_poll: Settings::CLAIM_POLL,
        };
        let token = config
            .metrics
            .token_file
            .as_deref()
            .map(MetricsToken::read)
            .transpose()
            .map_err(Error::MetricsToken)?;
        let tls = match &config.tls {
            Some(tls) => Some(Tls::load(tls).await.map_err(Error::Tls)?),
            None => None,
        };
        let exporter = match &config.audit {
            Some(audit) => {
                let settings = exporter::Settings {
                    key: AnchorKey::load(&audit.key_file).map_err(Error::AuditKey)?,
                    installation: store.installation().to_owned(),
                    anchor_file: audit.anchor_file.clone(),
                    events_file: audit.events_file.clone(),
                    interval: audit.anchor_interval,
                };
                Some(exporter::Exporter::open(store.clone(), settings).map_err(Error::AuditSink)?)
            }
            None => None,
        };
        let workflow = Workflow::new(store, decider, clusters, settings);
        let replica = Replica::new(replica_id, workflow.clone());
        let mut state = AppState::new(
            workflow.clone(),
            Arc::new(auth),
            config.admin_groups.clone(),
            config.auditor_groups.clone(),
            config.limits.clone(),
        )
        .with_replica(replica.clone())
        .with_metrics(
            token
                .clone()
                .map_or(MetricsAccess::Closed, MetricsAccess::Token),
        );
        if let Some(tls) = &tls {
            state = state.with_tls(tls.clone());
        }
        Ok(Self {
            workflow,
            replica,
            state,
            metrics: token.map_or(MetricsAccess::Open, MetricsAccess::Token),
            tls,
            reload: config.reload.clone(),
            background: Arc::default(),
            exporter: Arc::new(Mutex::new(exporter)),
            exporting: Arc::default(),
        })
    }

    /// `https` with `[tls]`, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The workflow.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// This replica (its id from `WICKET_REPLICA`, else `<hostname>-<random>`).
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The REST API.
    pub fn router(&self) -> Router {
        api::router(self.state.clone())
    }

    /// `/metrics` alone, as its own listener serves it.
    pub fn metrics_router(&self) -> Router {
        api::metrics_router(self.state.clone().with_metrics(self.metrics.clone()))
    }

    /// Recovers what a previous run left (fails interrupted requests, re-arms expiry timers,
    /// re-applies promoted policies, reconciles the clusters), starts the periodic reconciler,
    /// the task that audits counted authentication failures, the audit exporter (with
    /// `[audit]`), this replica's heartbeat and its following of the reload generation (see
    /// [`Replica`]) and, unless `reload.watch = false`, the watcher that reloads changed
    /// policies.
    pub async fn start(&self) -> Result<Sweep> {
        let sweep = self.workflow.start().await.map_err(Error::Recover)?;
        let following = self.replica.join().await.map_err(Error::Join)?;
        self.keep(following);
        match lock(&self.exporter).take() {
            Some(exporter) => *lock(&self.exporting) = Some(exporter.spawn()),
            None if lock(&self.exporting).is_none() => tracing::warn!(
                "no `[audit]` section: the audit chain is not anchored outside the database, \
                 so whoever can write the database can rewrite the log unnoticed"
            ),
            None => {}
        }
        let sweeper = self
            .state
            .auth_failures
            .spawn_sweeper(self.workflow.store().clone());
        self.keep(sweeper);
        if self.reload.watch {
            let settings = WatchSettings {
                debounce: self.reload.debounce,
                settle: self.reload.settle,
            };
            if let Some(watcher) =
                reloads::watch_policies(&self.replica, settings).map_err(Error::Watch)?
            {
                self.keep(watcher);
            }
        }
        Ok(sweep)
    }

    /// Reloads the policies on every `SIGHUP` until the service stops serving.
    #[cfg(unix)]
    pub fn reload_on_sighup(&self) -> std::io::Result<()> {
        if let Some(task) = reloads::reload_on_sighup(&self.replica)? {
            self.keep(task);
        }
        Ok(())
    }

    fn keep(&self, task: AbortHandle) {
        self.tasks().push(task);
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<AbortHandle>> {
        self.background
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Serves the API (and `/metrics` on its own listener, if any) until `shutdown`
    /// completes, then audits the authentication failures still being counted, stops the
    /// timers and background tasks (grants stay recorded; the next start re-arms them),
    /// removes this replica from the registry and anchors the audit chain a last time. With `[tls]` the certificate files are re-read
    /// while serving.
    pub async fn serve(
        &self,
        listeners: impl Into<Listeners>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let Listeners { api, metrics } = listeners.into();
        let (stop, stopped) = watch::channel(false);
        let signal = tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let metrics = metrics.map(|listener| {
            let serving = axum::serve(listener, self.metrics_router())
                .with_graceful_shutdown(until_stopped(stopped.clone()));
            tokio::spawn(serving.into_future())
        });
        // The API's handlers may read the peer address (`ConnectInfo<SocketAddr>`), over TLS
        // or not.
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = match &self.tls {
            Some(tls) => {
                let reloading = tls.watch();
                // `tap_io` only because axum provides `ConnectInfo` for its own listener types.
                let served = match tls.listen(api) {
                    Ok(listener) => {
                        axum::serve(listener.tap_io(|_| {}), app)
                            .with_graceful_shutdown(until_stopped(stopped.clone()))
                            .await
                    }
                    Err(error) => Err(error),
                };
                reloading.abort();
                served
            }
            None => {
                axum::serve(api, app)
                    .with_graceful_shutdown(until_stopped(stopped.clone()))
                    .await
            }
        };
        // Dropping the sender also stops the metrics listener if the API stopped first.
        signal.abort();
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        for task in self.tasks().drain(..) {
            task.abort();
        }
        self.replica.leave().await;
        AuthFailures::write(
            self.workflow.store().as_ref(),
            self.state.auth_failures.take_all(),
        )
        .await;
        self.workflow.stop().await;
        let exporting = lock(&self.exporting).take();
        if let Some(exporting) = exporting {
            exporting.stop().await;
        }
        self.workflow.store().close().await;
        served.map_err(Error::Serve)
    }
}

/// The value behind `mutex`, even if a panic poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
