//! `wicket store migrate`: moves an existing SQLite installation to PostgreSQL. The chain is
//! verified in the SQLite database first (a broken one is not copied), every row is copied in
//! one transaction (audit events byte for byte, the installation id with them), and the chain
//! is verified again in PostgreSQL, where it must end at the same event with the same hash.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::service::{fail, runtime};
use super::{GlobalArgs, Result};
use crate::audit;
use crate::config::{CONNECT_TIMEOUT, PostgresConfig};
use crate::store::{PgStore, SqliteStore, Store};

/// Arguments of `wicket store`.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// What to do with the database.
    #[command(subcommand)]
    pub command: StoreCommand,
}

/// The `wicket store` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Copies a SQLite installation into an empty PostgreSQL database, with its audit chain
    /// intact (verified before and after); exit code 1 if either check fails.
    Migrate(MigrateArgs),
}

/// Arguments of `wicket store migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The SQLite database: a data directory (holding `wicket.db`) or a database file.
    #[arg(long)]
    pub from: PathBuf,
    /// The PostgreSQL database, `postgres://user@host:port/database` (it must exist; its
    /// tables are made if missing, and must hold no request or audit event).
    #[arg(long)]
    pub to: String,
    /// A file holding the database password.
    #[arg(long, conflicts_with = "password_env")]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the database password.
    #[arg(long)]
    pub password_env: Option<String>,
}

/// Runs `wicket store ...`.
pub fn run(_global: &GlobalArgs, args: StoreArgs) -> Result<ExitCode> {
    let StoreCommand::Migrate(args) = args.command;
    Ok(migrate(args).unwrap_or_else(|code| code))
}

fn migrate(args: MigrateArgs) -> Result<ExitCode, ExitCode> {
    let to = PostgresConfig {
        url: args.to,
        password_file: args.password_file,
        password_env: args.password_env,
        connect_timeout: CONNECT_TIMEOUT.max(Duration::from_secs(5)),
        pool_size: 2,
        ssl_mode: None,
        ca_file: None,
    };
    let runtime = runtime().map_err(|error| fail(&error, 1))?;
    runtime.block_on(async {
        let from = SqliteStore::open_existing(&args.from)
            .await
            .map_err(|error| fail(&error, 2))?;
        let before = audit::verify(&from, Vec::new())
            .await
            .map_err(|error| fail(&error, 1))?;
        if !before.is_intact() {
            println!("not copied: the SQLite audit log does not verify: {before}");
            from.close().await;
            return Err(ExitCode::from(1));
        }
        let pg = PgStore::open(&to).await.map_err(|error| fail(&error, 2))?;
        let copied = pg.import_sqlite(&from).await;
        from.close().await;
        pg.close().await;
        let copied = copied.map_err(|error| fail(&error, 2))?;
        // Opened again: the installation id is the one copied.
        let pg = PgStore::open(&to).await.map_err(|error| fail(&error, 2))?;
        let after = audit::verify(&pg, Vec::new()).await;
        pg.close().await;
        let after = after.map_err(|error| fail(&error, 1))?;
        println!(
            "copied {} requests, {} objects, {} promotions and {} audit events",
            copied.requests, copied.objects, copied.promotions, copied.events
        );
        println!("before (SQLite): {before}");
        println!("after (PostgreSQL): {after}");
        if after.is_intact() && after.head == before.head {
            Ok(ExitCode::SUCCESS)
        } else {
            println!("the copied audit log does not match the original");
            Err(ExitCode::from(1))
        }
    })
}
