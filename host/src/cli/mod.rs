//! The `wicket` command line. Each subcommand lives in its own module: adding one is adding a
//! file and a variant of [`Command`].

mod audit;
mod dev;
mod error;
mod policy;
mod revoke;
mod serve;
mod service;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::{Error, Result};

/// Just-in-time access to Kubernetes, decided by WebAssembly policies.
#[derive(Debug, Parser)]
#[command(name = "wicket", version, about)]
pub struct Cli {
    /// Options shared by every subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Where compiled policy modules are cached [default: $XDG_CACHE_HOME/wicket/modules or
    /// ~/.cache/wicket/modules].
    #[arg(long, global = true, env = "WICKET_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile policy modules every time instead of caching them.
    #[arg(long, global = true)]
    pub no_cache: bool,
}

impl GlobalArgs {
    /// The module cache directory to use, if any.
    pub fn module_cache(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir.clone().or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache"))
                })?;
            Some(base.join("wicket").join("modules"))
        })
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect, run and test policy modules.
    Policy(policy::PolicyArgs),
    /// Run the service.
    Serve(serve::ServeArgs),
    /// Run everything locally: kube-sim, the shipped policies, a token and commands to try.
    Dev(dev::DevArgs),
    /// Check the audit log.
    Audit(audit::AuditArgs),
    /// The kill switch: revoke every live request of a subject, of a cluster, or all of them,
    /// on a running Wicket (an admin's token in `WICKET_TOKEN`).
    Revoke(revoke::RevokeArgs),
    /// Manage the database: move a SQLite installation to PostgreSQL.
    Store(store::StoreArgs),
}

/// Runs the command; bad input is one `error: ...` line on stderr and exit code 2.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Policy(args) => policy::run(&cli.global, args),
        Command::Serve(args) => serve::run(&cli.global, args),
        Command::Dev(args) => dev::run(&cli.global, args),
        Command::Audit(args) => audit::run(&cli.global, args),
        Command::Revoke(args) => revoke::run(&cli.global, args),
        Command::Store(args) => store::run(&cli.global, args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", error.one_line());
            ExitCode::from(2)
        }
    }
}
