//! `wicket audit verify [--data DIR | --config FILE]`: recomputes the audit chain and names
//! the first broken link.

use std::path::PathBuf;
use std::process::ExitCode;

use super::service::{fail, runtime};
use super::{GlobalArgs, Result};
use crate::audit;
use crate::config::Config;
use crate::store::{SqliteStore, Store};

/// Arguments of `wicket audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// What to do with the audit log.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The `wicket audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Recomputes every event's hash and link; exit code 1 names the first broken one.
    Verify(VerifyArgs),
}

/// Arguments of `wicket audit verify`.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct VerifyArgs {
    /// A data directory (holding `wicket.db`) or a database file.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The service's configuration file (its `[data]` names the database).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs `wicket audit ...`.
pub fn run(_global: &GlobalArgs, args: AuditArgs) -> Result<ExitCode> {
    let AuditCommand::Verify(args) = args.command;
    let path = match (args.data, args.config) {
        (Some(data), _) => data,
        (None, Some(config)) => match Config::load(&config) {
            Ok(config) => config.data.path,
            Err(error) => return Ok(fail(&error, 2)),
        },
        (None, None) => unreachable!("clap requires one of `--data` and `--config`"),
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => return Ok(fail(&error, 1)),
    };
    Ok(runtime.block_on(async {
        let store = match SqliteStore::open_existing(&path).await {
            Ok(store) => store,
            Err(error) => return fail(&error, 2),
        };
        let report = match audit::verify(&store).await {
            Ok(report) => report,
            Err(error) => return fail(&error, 1),
        };
        store.close().await;
        println!("{report}");
        if report.broken.is_some() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    }))
}
