//! The service assembled from a configuration: store, authenticator, workflow (with its
//! policy chains and clusters) and the REST API, served on a TCP listener (over TLS when
//! `[tls]` is configured), and `/metrics` on a listener of its own when configured.

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
use crate::auth::{self, Authenticator};
use crate::config::{Config, Reload};
use crate::store::{self, SqliteStore, Store};
use crate::workflow::{self, Clusters, Decider, Settings, Sweep, WatchSettings, Workflow};

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

/// The assembled service.
#[derive(Debug, Clone)]
pub struct Service {
    workflow: Workflow,
    state: AppState,
    metrics: MetricsAccess,
    tls: Option<Tls>,
    reload: Reload,
    /// The task writing closed windows of failed authentications to the audit log.
    sweeper: Arc<Mutex<Option<AbortHandle>>>,
}

impl Service {
    /// Opens the store and builds the workflow and API for `config`, deciding with `decider`
    /// and provisioning on `clusters`. Nothing runs until [`Service::start`].
    pub async fn build(
        config: &Config,
        decider: Arc<dyn Decider>,
        clusters: Arc<dyn Clusters>,
    ) -> Result<Self> {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&config.data.path)
                .await
                .map_err(Error::Store)?,
        );
        let auth = Authenticator::new(&config.issuers).map_err(Error::Auth)?;
        let settings = Settings {
            max_duration: config.expiry.max_duration,
            retry_interval: config.expiry.retry_interval,
            reconcile_interval: config.reconcile.interval,
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
        let workflow = Workflow::new(store, decider, clusters, settings);
        let mut state = AppState::new(
            workflow.clone(),
            Arc::new(auth),
            config.admin_groups.clone(),
            config.auditor_groups.clone(),
            config.limits.clone(),
        )
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
            state,
            metrics: token.map_or(MetricsAccess::Open, MetricsAccess::Token),
            tls,
            reload: config.reload.clone(),
            sweeper: Arc::default(),
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
    /// the task that audits counted authentication failures and, unless
    /// `reload.watch = false`, the watcher that reloads changed policies.
    pub async fn start(&self) -> Result<Sweep> {
        let sweep = self.workflow.start().await.map_err(Error::Recover)?;
        let sweeper = self
            .state
            .auth_failures
            .spawn_sweeper(self.workflow.store().clone());
        if let Some(previous) = self
            .sweeper
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(sweeper)
        {
            previous.abort();
        }
        if self.reload.watch {
            self.workflow
                .watch_policies(WatchSettings {
                    debounce: self.reload.debounce,
                    settle: self.reload.settle,
                })
                .map_err(Error::Watch)?;
        }
        Ok(sweep)
    }

    /// Serves the API (and `/metrics` on its own listener, if any) until `shutdown`
    /// completes, then audits the authentication failures still being counted and stops the
    /// timers and background tasks (grants stay recorded; the next start re-arms them). With
    /// `[tls]` the certificate files are re-read while serving.
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
        if let Some(sweeper) = self
            .sweeper
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            sweeper.abort();
        }
        AuthFailures::write(
            self.workflow.store().as_ref(),
            self.state.auth_failures.take_all(),
        )
        .await;
        self.workflow.shutdown();
        self.workflow.store().close().await;
        served.map_err(Error::Serve)
    }
}
