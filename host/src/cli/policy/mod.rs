//! `wicket policy ...`: inspect, run and test policy modules without a server.

mod check;
mod eval;
mod files;
mod replay;
mod test;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::{GlobalArgs, Result};
use crate::policy::{EngineConfig, Limits, PolicyEngine, PolicyModule};

/// `wicket policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Show which world a module implements, its imports, exports, size and sha256 digest.
    Check(check::CheckArgs),
    /// Decide one request with a module, or with the chain a configuration gives the request's
    /// cluster (`--config`), and print the evaluation as JSON with timings.
    Eval(eval::EvalArgs),
    /// Run a module against a cases file; exit 1 if any case fails.
    Test(test::TestArgs),
    /// Decide the requests recorded in the audit log again with a candidate module; print
    /// each changed decision and a summary; exit 1 if any changed.
    Replay(replay::ReplayArgs),
}

/// Runs a `wicket policy` subcommand.
pub fn run(global: &GlobalArgs, args: PolicyArgs) -> Result<ExitCode> {
    match args.command {
        PolicyCommand::Check(args) => check::run(global, &args),
        PolicyCommand::Eval(args) => eval::run(global, &args),
        PolicyCommand::Test(args) => test::run(global, &args),
        PolicyCommand::Replay(args) => replay::run(global, &args),
    }
}

/// Per-module limits, as options.
#[derive(Debug, Args)]
struct LimitArgs {
    /// Memory limit of the module, in MiB.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    memory_mib: u64,
    /// Deadline of one call into the module, in milliseconds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    deadline_ms: u64,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            memory_bytes: usize::try_from(self.memory_mib << 20).unwrap_or(usize::MAX),
            deadline: Duration::from_millis(self.deadline_ms),
            ..Limits::default()
        }
    }
}

/// An engine with the command line's module cache.
fn engine(global: &GlobalArgs) -> Result<PolicyEngine> {
    Ok(PolicyEngine::new(&EngineConfig {
        cache_dir: global.module_cache(),
        ..EngineConfig::default()
    })?)
}

/// Builds an engine and loads the module at `path`.
fn load(global: &GlobalArgs, path: &Path, limits: Limits) -> Result<PolicyModule> {
    Ok(engine(global)?.load_file(path, limits)?)
}
