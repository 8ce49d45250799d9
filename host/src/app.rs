//! The service assembled from a configuration: store, authenticator, workflow (with its
//! policy chains and clusters) and the REST API, served on a TCP listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

use crate::api::{self, AppState, AuthFailures};
use crate::auth::{self, Authenticator};
use crate::config::{Config, Reload};
use crate::store::{self, Store};
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
    /// The listener failed.
    #[error("cannot serve http")]
    Serve(#[source] std::io::Error),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The assembled service.
#[derive(Debug, Clone)]
pub struct Service {
    workflow: Workflow,
    state: AppState,
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
        let store = Store::open(&config.data.path).await.map_err(Error::Store)?;
        let auth = Authenticator::new(&config.issuers).map_err(Error::Auth)?;
        let settings = Settings {
            max_duration: config.expiry.max_duration,
            retry_interval: config.expiry.retry_interval,
            reconcile_interval: config.reconcile.interval,
        };
        let workflow = Workflow::new(store, decider, clusters, settings);
        let state = AppState::new(
            workflow.clone(),
            Arc::new(auth),
            config.admin_groups.clone(),
            config.auditor_groups.clone(),
            config.limits.clone(),
        );
        Ok(Self {
            workflow,
            state,
            reload: config.reload.clone(),
            sweeper: Arc::default(),
        })
    }

    /// The workflow.
    pub fn workflow(&self) -> &Workflow {
        &self.workflow
    }

    /// The REST API.
    pub fn router(&self) -> Router {
        api::router(self.state.clone())
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

    /// Serves the API on `listener` until `shutdown` completes, then audits the authentication
    /// failures still being counted and stops the timers and background tasks (grants stay
    /// recorded; the next start re-arms them).
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let app = self
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        if let Some(sweeper) = self
            .sweeper
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            sweeper.abort();
        }
        AuthFailures::write(self.workflow.store(), self.state.auth_failures.take_all()).await;
        self.workflow.shutdown();
        self.workflow.store().close().await;
        served.map_err(Error::Serve)
    }
}
