//! What `wicket serve` and `wicket dev` share: building the policy chains and clusters from a
//! configuration, binding the listener, serving until Ctrl-C or SIGTERM.

use std::error::Error as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::GlobalArgs;
use crate::app::{KubeClusters, PolicyChains};
use crate::app::{Listeners, Service};
use crate::config::Config;
use crate::policy::{EngineConfig, PolicyEngine};

/// An error and its causes on one line.
pub(super) fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

/// Prints `error: ...` and returns `code`.
pub(super) fn fail(error: &dyn std::error::Error, code: u8) -> ExitCode {
    eprintln!("error: {}", one_line(error));
    ExitCode::from(code)
}

/// A multi-threaded runtime for the service commands.
pub(super) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Loads the chains of `config`, read from `path` (bad modules or settings: exit code 2),
/// connects the clusters, builds and starts the service, and reloads the policies on
/// `SIGHUP` (and on file changes, unless `reload.watch = false`).
pub(super) async fn start(
    global: &GlobalArgs,
    config: &Config,
    path: &Path,
) -> Result<Service, ExitCode> {
    let engine = PolicyEngine::new(&EngineConfig {
        cache_dir: global.module_cache(),
        ..EngineConfig::default()
    })
    .map_err(|e| fail(&e, 1))?;
    let chains =
        PolicyChains::from_config_file(Arc::new(engine), path, config).map_err(|e| fail(&e, 2))?;
    let clusters = KubeClusters::connect(&config.clusters)
        .await
        .map_err(|e| fail(&e, 2))?;
    preflight(config, &clusters).await?;
    let service = Service::build(config, Arc::new(chains), Arc::new(clusters))
        .await
        .map_err(|e| fail(&e, 1))?;
    let sweep = service.start().await.map_err(|e| fail(&e, 1))?;
    #[cfg(unix)]
    service.reload_on_sighup().map_err(|e| fail(&e, 1))?;
    if sweep.deleted > 0 || !sweep.failed_clusters.is_empty() {
        tracing::warn!(deleted = sweep.deleted, failed = ?sweep.failed_clusters, "start-up reconcile");
    }
    Ok(service)
}

/// Reviews Wicket's permissions and bindable roles on every cluster. Refuses to start (exit
/// code 2, naming what to remove) when a bindable role's ClusterRole holds a rule never
/// granted, or when Wicket holds more than it needs and the cluster entry does not set
/// `allow_excess_privileges`. A cluster that cannot answer is logged, and its requests are
/// denied until a review on the request path passes.
async fn preflight(config: &Config, clusters: &KubeClusters) -> Result<(), ExitCode> {
    let mut refused = false;
    for cluster in &config.clusters {
        let name = cluster.name.as_str();
        let found = match clusters.review(name).await {
            Ok(found) => found,
            Err(error) => {
                tracing::error!(cluster = name, %error, "cannot review wicket's permissions; its requests are denied until a review passes");
                continue;
            }
        };
        for missing in &found.missing {
            tracing::warn!(cluster = name, %missing, "wicket lacks a permission it needs");
        }
        for role in &found.absent_roles {
            tracing::warn!(cluster = name, %role, "a bindable role's ClusterRole does not exist; its grants are denied");
        }
        for role in &found.unsafe_roles {
            eprintln!(
                "error: cluster `{name}`: {role}; fix the ClusterRole or drop the role from `roles`"
            );
        }
        for excess in &found.excess {
            if cluster.allow_excess_privileges {
                tracing::warn!(cluster = name, %excess, "wicket holds more than it needs (allow_excess_privileges = true)");
            } else {
                eprintln!("error: cluster `{name}`: wicket holds more than it needs: {excess}");
            }
        }
        if found.refuses(cluster.allow_excess_privileges) {
            refused = true;
        }
    }
    if refused {
        eprintln!(
            "error: refusing to start: see examples/deploy/wicket-rbac.yaml for the RBAC Wicket needs \
             (or set `allow_excess_privileges = true` on the cluster to start anyway)"
        );
        return Err(ExitCode::from(2));
    }
    Ok(())
}

/// Binds `config.listen` and `metrics.listen` (bad address: exit code 2).
pub(super) async fn bind(config: &Config) -> Result<Listeners, ExitCode> {
    let bind = |key: &'static str, addr| async move {
        TcpListener::bind(addr).await.map_err(|e| {
            eprintln!("error: cannot listen on `{key}` `{addr}`: {e}");
            ExitCode::from(2)
        })
    };
    let api = bind("listen", config.listen).await?;
    let metrics = match config.metrics.listen {
        Some(addr) => Some(bind("metrics.listen", addr).await?),
        None => None,
    };
    Ok(Listeners { api, metrics })
}

/// Serves until Ctrl-C or SIGTERM.
pub(super) async fn serve(service: &Service, listeners: Listeners) -> ExitCode {
    match service.serve(listeners, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if let Some(source) = error.source() {
                tracing::error!(error = %source, "serving failed");
            }
            fail(&error, 1)
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
