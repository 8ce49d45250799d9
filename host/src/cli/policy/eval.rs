//! `wicket policy eval <module> --settings <file> --request <file>`: one module;
//! `wicket policy eval --config <wicket.toml> --request <file> [--every-module]`: the chain the
//! service runs for the request's cluster.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::LimitArgs;
use super::files::{read_request, read_settings};
use crate::app::PolicyChains;
use crate::cli::{Error, GlobalArgs, Result};
use crate::config::Config;
use crate::policy::set::LiveChain;
use crate::policy::{Chain, ChainEntry, OnDeny};

/// Arguments of `wicket policy eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The policy module (a `.wasm` component); not with `--config`.
    #[arg(
        required_unless_present = "config",
        conflicts_with = "config",
        requires = "settings"
    )]
    module: Option<PathBuf>,
    /// The module's settings (any JSON value), passed to it as written.
    #[arg(long, conflicts_with = "config")]
    settings: Option<PathBuf>,
    /// Decide with the chain the service's configuration gives the request's cluster (its
    /// modules, settings, limits and `on_deny`), loaded and checked as the service loads it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// With `--config`: run every entry, even after one with `on_deny = "stop"` denied, to see
    /// every module's reason (the verdict is the same).
    #[arg(long, requires = "config")]
    every_module: bool,
    /// The request file: `{"identity": {...}, "request": {...}}`, the request in its own form
    /// or as the REST API's body (`"duration": "30m"`).
    #[arg(long)]
    request: PathBuf,
    /// Limits of the one module (with `--config`, the configured limits apply).
    #[command(flatten)]
    limits: LimitArgs,
}

/// Decides the request with the module or the configured chain and prints the evaluation as
/// JSON.
pub fn run(global: &GlobalArgs, args: &EvalArgs) -> Result<ExitCode> {
    let (identity, request) = read_request(&args.request)?;
    let evaluation = match (&args.config, &args.module, &args.settings) {
        (Some(config), _, _) => {
            configured_chain(global, config, &request.cluster, args.every_module)?
                .active()
                .evaluate(&identity, &request)
        }
        (None, Some(module), Some(settings)) => {
            let settings = read_settings(settings)?;
            let module = super::load(global, module, args.limits.limits())?;
            let name = module.name().to_owned();
            Chain::new(vec![ChainEntry::with_settings_text(
                name,
                Arc::new(module),
                settings,
            )])?
            .evaluate(&identity, &request)
        }
        _ => {
            return Err(Error::Invalid(
                "give a module and `--settings`, or `--config`".into(),
            ));
        }
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &evaluation)
        .map_err(std::io::Error::other)
        .and_then(|()| writeln!(out))
        .map_err(Error::Output)?;
    Ok(ExitCode::SUCCESS)
}

/// Loads `cluster`'s chain from the configuration at `path` as the service would: every
/// module compiled (or taken from the cache), its world, cases file and settings checked; a
/// refusal is an error that says what the service would say.
fn configured_chain(
    global: &GlobalArgs,
    path: &Path,
    cluster: &str,
    every_module: bool,
) -> Result<Arc<LiveChain>> {
    let config = Config::load(path)?;
    let Some(configured) = config.clusters.iter().find(|c| c.name == cluster) else {
        let names: Vec<String> = config
            .clusters
            .iter()
            .map(|c| format!("`{}`", c.name))
            .collect();
        return Err(Error::Invalid(format!(
            "the request's cluster `{cluster}` is not in `{}` (its clusters: {})",
            path.display(),
            names.join(", ")
        )));
    };
    let mut configured = configured.clone();
    if every_module {
        for policy in &mut configured.policies {
            policy.on_deny = OnDeny::Continue;
        }
    }
    let chains = PolicyChains::load(Arc::new(super::engine(global)?), &[configured])
        .map_err(|error| Error::Invalid(error.to_string()))?;
    chains
        .current()
        .chain(cluster)
        .cloned()
        .ok_or_else(|| Error::Invalid(format!("cluster `{cluster}` has no chain")))
}
