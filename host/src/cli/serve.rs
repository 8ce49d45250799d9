//! `wicket serve --config wicket.toml`: the service.

use std::path::PathBuf;
use std::process::ExitCode;

use super::service::{bind, fail, runtime, serve, start};
use super::{GlobalArgs, Result};
use crate::config::Config;

/// Arguments of `wicket serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(long, short, env = "WICKET_CONFIG", default_value = "wicket.toml")]
    pub config: PathBuf,
}

/// Runs the service until Ctrl-C or SIGTERM. A bad configuration is exit code 2.
pub fn run(global: &GlobalArgs, args: ServeArgs) -> Result<ExitCode> {
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => return Ok(fail(&error, 2)),
    };
    if config.dev {
        warn_dev();
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => return Ok(fail(&error, 1)),
    };
    Ok(runtime.block_on(async {
        let service = match start(global, &config, &args.config).await {
            Ok(service) => service,
            Err(code) => return code,
        };
        let listeners = match bind(&config).await {
            Ok(listeners) => listeners,
            Err(code) => return code,
        };
        if let Ok(addr) = listeners.api.local_addr() {
            eprintln!("wicket: serving on {}://{addr}", service.scheme());
        }
        if let Some(Ok(addr)) = listeners.metrics.as_ref().map(|m| m.local_addr()) {
            eprintln!("wicket: serving /metrics on http://{addr}");
        }
        serve(&service, listeners).await
    }))
}

/// `dev = true` outside `wicket dev`: said on stderr whatever the log level.
fn warn_dev() {
    eprintln!(
        "WARNING: `dev = true`: development mode accepts `hs256_secret` issuers (shared-secret \
         tokens anyone holding the secret can mint); never use it in production"
    );
}
