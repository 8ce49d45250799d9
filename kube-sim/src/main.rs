//! `kube-sim --listen 127.0.0.1:0 --kubeconfig <path>`: serves until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

/// An in-memory Kubernetes API server that enforces authentication and RBAC.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write the admin kubeconfig.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Fixed admin token (random by default).
    #[arg(long, env = "KUBE_SIM_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// Cache each successful service-account token authentication for this many seconds, as
    /// a real API server does for 10 (off by default: every request is checked afresh).
    #[arg(long, value_name = "SECONDS")]
    token_cache_ttl: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "kube_sim=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = kube_sim::Config {
        listen: cli.listen,
        admin_token: cli.admin_token,
        token_cache_ttl: cli.token_cache_ttl.map(std::time::Duration::from_secs),
        ..Default::default()
    };
    let sim = kube_sim::KubeSim::start(config)
        .await
        .context("cannot start kube-sim")?;
    if let Some(path) = &cli.kubeconfig {
        sim.write_kubeconfig(path)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        eprintln!("admin kubeconfig written to {}", path.display());
    }
    println!("{}", sim.url());
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}
