//! `wicket audit verify | export | archive`: the audit log read from the database (named by
//! `--data` or by the service's `--config`), checked against the anchors the exporter wrote,
//! exported as JSON lines, archived with its anchor.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::service::{fail, runtime};
use super::{GlobalArgs, Result};
use crate::audit::{self, AnchorKey, Anchors, Since};
use crate::config::Config;
use crate::config::DataConfig;
use crate::store::{self, Store};

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
    /// Recomputes every event's hash and link and checks the chain against its anchors; exit
    /// code 1 names the first event where they diverge.
    Verify(VerifyArgs),
    /// Writes events as JSON lines (one canonical JSON event each, with `seq`, `prev_hash`
    /// and `hash`).
    Export(ExportArgs),
    /// Writes the chain up to the newest anchored event before a time, with that anchor, to a
    /// file `wicket audit verify --archive` checks on its own. Nothing is deleted.
    Archive(ArchiveArgs),
}

/// Where the database is.
#[derive(Debug, Clone, clap::Args)]
pub struct Database {
    /// A data directory (holding `wicket.db`) or a database file.
    #[arg(long, group = "source")]
    pub data: Option<PathBuf>,
    /// The service's configuration file (its `[data]` names the database, its `[audit]` the
    /// anchor file and key).
    #[arg(long, group = "source")]
    pub config: Option<PathBuf>,
}

/// The anchors and their key, when not taken from `--config`'s `[audit]`.
#[derive(Debug, Clone, clap::Args)]
pub struct Anchoring {
    /// The anchor file the exporter appends to.
    #[arg(long)]
    pub anchors: Option<PathBuf>,
    /// The audit key file.
    #[arg(long)]
    pub key: Option<PathBuf>,
}

/// Arguments of `wicket audit verify`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(false)))]
pub struct VerifyArgs {
    #[command(flatten)]
    database: Database,
    /// An archive file to check on its own (needs the key).
    #[arg(long, group = "source")]
    pub archive: Option<PathBuf>,
    #[command(flatten)]
    anchoring: Anchoring,
    /// The events sink the exporter appends to: with it, a rewrite is named at its first
    /// event, not at the next anchor.
    #[arg(long)]
    pub events: Option<PathBuf>,
}

/// Arguments of `wicket audit export`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(false)))]
pub struct ExportArgs {
    #[command(flatten)]
    database: Database,
    /// The first event: a sequence number, or an RFC 3339 time (the first event at or after
    /// it). Default: the first event.
    #[arg(long, default_value = "1")]
    pub since: Since,
    /// The file to write (created, or appended to). Default: standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Arguments of `wicket audit archive`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).multiple(false)))]
pub struct ArchiveArgs {
    #[command(flatten)]
    database: Database,
    #[command(flatten)]
    anchoring: Anchoring,
    /// Archive the events before this RFC 3339 time, up to the newest anchored one.
    #[arg(long)]
    pub before: jiff::Timestamp,
    /// The archive file to create (it must not exist).
    #[arg(long)]
    pub out: PathBuf,
}

/// What `--data`/`--config` and `--anchors`/`--key` resolve to.
struct Resolved {
    database: DataConfig,
    anchors: Option<PathBuf>,
    key: Option<PathBuf>,
    events: Option<PathBuf>,
}

/// Prints a usage error and returns exit code 2.
fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn resolve(database: &Database, anchoring: &Anchoring) -> Result<Resolved, ExitCode> {
    let (path, audit) = match (&database.data, &database.config) {
        (Some(data), _) => (
            DataConfig {
                path: data.clone(),
                postgres: None,
            },
            None,
        ),
        (None, Some(config)) => match Config::load(config) {
            Ok(config) => (config.data, config.audit),
            Err(error) => return Err(fail(&error, 2)),
        },
        (None, None) => return Err(usage("give `--data` or `--config`")),
    };
    let anchors = anchoring
        .anchors
        .clone()
        .or_else(|| audit.as_ref().map(|a| a.anchor_file.clone()));
    let key = anchoring
        .key
        .clone()
        .or_else(|| audit.as_ref().map(|a| a.key_file.clone()));
    let events = audit.and_then(|a| a.events_file);
    Ok(Resolved {
        database: path,
        anchors,
        key,
        events,
    })
}

fn load_key(path: Option<&Path>) -> Result<AnchorKey, ExitCode> {
    let Some(path) = path else {
        return Err(usage(
            "the anchors need their key: give `--key` (or `--config` with `[audit]`)",
        ));
    };
    AnchorKey::load(path).map_err(|error| fail(&error, 2))
}

/// Reads and checks the anchor file; a line that does not check out is a broken log (exit 1).
fn read_anchors(path: &Path, key: &AnchorKey, installation: &str) -> Result<Anchors, ExitCode> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!(
                "error: cannot read anchor file `{}`: {error}",
                path.display()
            );
            return Err(ExitCode::from(2));
        }
    };
    let anchors = Anchors::read(&text, key, Some(installation)).map_err(|bad| {
        println!("audit anchors broken: `{}` {bad}", path.display());
        ExitCode::from(1)
    })?;
    if anchors.skipped > 0 {
        eprintln!(
            "note: {} lines of `{}` are not JSON (writes cut short by a crash), skipped",
            anchors.skipped,
            path.display()
        );
    }
    Ok(anchors)
}

/// Runs `wicket audit ...`.
pub fn run(_global: &GlobalArgs, args: AuditArgs) -> Result<ExitCode> {
    let outcome = match args.command {
        AuditCommand::Verify(args) => verify(args),
        AuditCommand::Export(args) => export(args),
        AuditCommand::Archive(args) => archive(args),
    };
    // Either way an exit code: `Err` is one that stopped the command early.
    Ok(outcome.unwrap_or_else(|code| code))
}

/// Opens the store `data` names, runs `work` on it, closes it.
fn with_store(
    data: &DataConfig,
    work: impl AsyncFnOnce(&dyn Store) -> Result<ExitCode, ExitCode>,
) -> Result<ExitCode, ExitCode> {
    let runtime = runtime().map_err(|error| fail(&error, 1))?;
    runtime.block_on(async {
        let store = store::open_existing(data)
            .await
            .map_err(|error| fail(&error, 2))?;
        let result = work(&*store).await;
        store.close().await;
        result
    })
}

fn verify(args: VerifyArgs) -> Result<ExitCode, ExitCode> {
    if let Some(archive) = &args.archive {
        let key = load_key(args.anchoring.key.as_deref())?;
        return Ok(verify_archive(archive, &key));
    }
    let resolved = resolve(&args.database, &args.anchoring)?;
    let key = match (&resolved.anchors, &resolved.key) {
        (Some(_), key) => Some(load_key(key.as_deref())?),
        (None, Some(_)) if args.anchoring.key.is_some() => {
            return Err(usage("`--key` checks anchors: give `--anchors` too"));
        }
        (None, _) => None,
    };
    if args.events.is_some() && resolved.anchors.is_none() {
        return Err(usage(
            "`--events` is checked against the anchors: give `--anchors` and `--key`",
        ));
    }
    with_store(&resolved.database, async |store| {
        let anchors = match (&resolved.anchors, &key) {
            (Some(path), Some(key)) => read_anchors(path, key, store.installation())?,
            _ => Anchors::default(),
        };
        let events = args.events.as_ref().or(resolved.events.as_ref());
        let exported = match events.filter(|_| !anchors.anchors.is_empty()) {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => audit::exported(&text, &anchors.anchors),
                Err(error) => {
                    eprintln!(
                        "error: cannot read events file `{}`: {error}",
                        path.display()
                    );
                    return Err(ExitCode::from(2));
                }
            },
            None => Default::default(),
        };
        let verifier = audit::Verifier::new(anchors.anchors).with_exported(exported);
        let report = audit::verify_with(store, verifier)
            .await
            .map_err(|error| fail(&error, 1))?;
        println!("{report}");
        Ok(if report.is_intact() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

fn verify_archive(path: &Path, key: &AnchorKey) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read archive `{}`: {error}", path.display());
            return ExitCode::from(2);
        }
    };
    match audit::archive::verify(&text, key) {
        Ok(report) => {
            println!("archive `{}`: {report}", path.display());
            if report.is_intact() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(bad) => {
            println!("archive `{}` broken: {bad}", path.display());
            ExitCode::from(1)
        }
    }
}

fn export(args: ExportArgs) -> Result<ExitCode, ExitCode> {
    let resolved = resolve(
        &args.database,
        &Anchoring {
            anchors: None,
            key: None,
        },
    )?;
    let out: Box<dyn std::io::Write + Send> = match &args.out {
        Some(path) => match std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(error) => {
                eprintln!("error: cannot write `{}`: {error}", path.display());
                return Err(ExitCode::from(2));
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    with_store(&resolved.database, async |store| {
        let count = audit::export(store, args.since, out)
            .await
            .map_err(|error| fail(&error, 1))?;
        if args.out.is_some() {
            println!("exported {count} events");
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn archive(args: ArchiveArgs) -> Result<ExitCode, ExitCode> {
    let resolved = resolve(&args.database, &args.anchoring)?;
    let Some(anchor_file) = resolved.anchors.clone() else {
        return Err(usage(
            "an archive ends at an anchor: give `--anchors` and `--key` (or `--config` with `[audit]`)",
        ));
    };
    let key = load_key(resolved.key.as_deref())?;
    with_store(&resolved.database, async |store| {
        let anchors = read_anchors(&anchor_file, &key, store.installation())?;
        let mut buffer = Vec::new();
        let written = audit::archive::write(store, &anchors, args.before, &mut buffer)
            .await
            .map_err(|error| fail(&error, 1))?;
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&args.out)
            .and_then(|mut file| {
                file.write_all(&buffer)?;
                file.sync_all()
            });
        if let Err(error) = created {
            eprintln!("error: cannot create `{}`: {error}", args.out.display());
            return Err(ExitCode::from(2));
        }
        println!(
            "archived events 1 to {} with their anchor in `{}` (the database keeps them)",
            written.anchor.seq,
            args.out.display()
        );
        Ok(ExitCode::SUCCESS)
    })
}
