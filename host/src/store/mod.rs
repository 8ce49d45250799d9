//! Wicket's state in SQLite (WAL mode, foreign keys on, busy timeout): the installation id,
//! access requests, their states and the time of their timers (`due_at`, see `timers.rs`), the
//! policy verdicts, the Kubernetes objects provisioned for each request, promoted candidate
//! policies, and the audit log. Every change that matters is written in one transaction
//! together with its audit events, so the log and the state never disagree.
//!
//! # Writes: one writer, group commit
//!
//! Reads use a pool of sqlx connections. Every write goes through the single write connection
//! (`store/writer.rs`), a synchronous one: the caller that finds it free runs every change that
//! is waiting, its own included, in one transaction (each change under its own savepoint, so a
//! failing one is rolled back alone), and each caller is answered only after that commit.
//!
//! # What a crash leaves
//!
//! A new access request is decided *before* anything is stored, and then stored in one change
//! with its verdict, its state and its audit events ([`Store::insert_decided`]). A crash while
//! deciding, or before that change's batch commits, leaves nothing of the request, and its
//! client got no answer (it may ask again). A change that was answered is committed, and a
//! restart finds it. Nothing is ever half-written: a change is all in one transaction.
//!
//! # Durability
//!
//! The journal is a WAL with `synchronous=NORMAL`: a commit is written to the WAL but not
//! synced to disk each time (the WAL is synced at checkpoints). A crash of the *process* loses
//! nothing that was committed (the operating system has the writes). A *power loss* or kernel
//! crash may lose the commits made since the latest checkpoint, never leaves the database
//! corrupt or half-written, and the audit chain stays whole (it is only shorter).
//! `synchronous=FULL` would make answered changes survive power loss too, at the cost of an
//! `fsync` per batch (shared by every change in the batch, thanks to the group commit).
//!
//! Queries are checked at run time (no database is needed to build); the schema lives in
//! `host/migrations/` and is applied on open.

mod audit_log;
mod audit_reads;
mod installation;
mod objects;
mod promotions;
mod requests;
mod timers;
mod wal_vfs;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use writer::WriteStats;
use writer::{Tx, Writer};

pub use crate::domain::{RequestState, UnknownState};
pub use objects::{ObjectRef, ProvisionedObject};
pub use requests::{Decided, ListFilter, ModuleVerdict, Page, RequestRecord, Transition};
pub use timers::DueTimer;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database file's directory could not be created.
    #[error("cannot create data directory `{path}`: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open database `{path}`: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// The write connection could not be opened.
    #[error("cannot open database `{path}` for writing: {source}")]
    OpenWriter {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The checkpoint thread could not be started.
    #[error("cannot start the database checkpoint thread: {0}")]
    Thread(#[source] std::io::Error),
    /// `open_existing` found no database.
    #[error("no Wicket database at `{0}`")]
    NoDatabase(PathBuf),
    /// The schema could not be brought up to date.
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value could not be read back or a value could not be stored.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A request with this id already exists.
    #[error("request `{0}` already exists")]
    Duplicate(String),
    /// No request has this id.
    #[error("request `{0}` not found")]
    NotFound(String),
    /// The request was not in the state the caller expected (another replica or task moved it).
    #[error("request `{id}` is `{actual}`, not `{expected}`")]
    StateConflict {
        /// The request.
        id: String,
        /// The state the caller expected.
        expected: RequestState,
        /// The state it is in.
        actual: RequestState,
    },
    /// The state machine has no such move.
    #[error("a request cannot move from `{from}` to `{to}`")]
    InvalidTransition {
        /// The state before.
        from: RequestState,
        /// The state asked for.
        to: RequestState,
    },
    /// A statement of a change failed.
    #[error("database statement failed: {0}")]
    Statement(#[from] rusqlite::Error),
    /// The transaction carrying this change failed; nothing of it was stored.
    #[error("database write failed: {0}")]
    Write(#[source] Arc<rusqlite::Error>),
    /// The code of a change panicked; nothing of it was stored.
    #[error("the database write panicked")]
    Panicked,
    /// The store was closed (or its writer stopped) before the change was made.
    #[error("the database is closed")]
    Closed,
    /// A paging cursor was not one this store handed out.
    #[error("paging cursor `{0}` is invalid")]
    BadCursor(String),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The database: cheap to clone, shared by every task.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: Writer,
    installation: Arc<str>,
}

impl Store {
    /// Opens (creating it and its directory if needed) the SQLite database at `path` and
    /// applies the migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .map_err(|source| Error::Open {
                path: path.to_owned(),
                source,
            })?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let installation = installation::read(&pool).await?.into();
        let open_writer = |source| Error::OpenWriter {
            path: path.to_owned(),
            source,
        };
        let conn = write_connection(path).map_err(open_writer)?;
        let checkpoints = rusqlite::Connection::open(path).map_err(open_writer)?;
        checkpoints
            .busy_timeout(writer::RESTART_WAIT)
            .map_err(open_writer)?;
        let writer = Writer::start(conn, checkpoints).map_err(Error::Thread)?;
        Ok(Self {
            pool,
            writer,
            installation,
        })
    }

    /// Opens the database the way `wicket audit verify --data` names it: a database file, or
    /// a data directory holding `wicket.db`. Fails if there is none (never creates one).
    pub async fn open_existing(path: &Path) -> Result<Self> {
        let file = if path.is_dir() {
            path.join("wicket.db")
        } else {
            path.to_owned()
        };
        if !file.is_file() {
            return Err(Error::NoDatabase(file));
        }
        Self::open(&file).await
    }

    /// Lets the writes already asked for finish, then closes every connection,
    /// checkpointing the WAL. Writes asked for later fail with [`Error::Closed`].
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// This installation's id (32 lowercase hex digits), made once with the database and the
    /// same for every process using it: the `wicket.dev/installation` label of every object
    /// Wicket creates.
    pub fn installation(&self) -> &str {
        &self.installation
    }

    /// How much the writer has done since the store was opened (see [`WriteStats`]).
    pub fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    /// Runs `work` (the statements of one change) in the writer's next batch; returns its
    /// result once that batch is committed.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx) -> Result<T> + Send + 'static,
    {
        self.writer.write(work).await
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// The size the WAL is truncated to when it starts over, if it had grown longer: a burst of
/// writes may grow it past, but not keep it there.
const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// The write connection: WAL (set by the pool), `synchronous=NORMAL`, foreign keys on, no
/// busy timeout (the writer waits only on a blocking thread, see `writer`), no automatic
/// checkpoint (a helper checkpoints beside the writer) and a WAL kept to [`WAL_SIZE_LIMIT`],
/// written one commit at a time (`store/wal_vfs.rs`).
fn write_connection(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags_and_vfs(
        path,
        rusqlite::OpenFlags::default(),
        wal_vfs::register()?,
    )?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
         PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
    ))?;
    conn.busy_timeout(Duration::ZERO)?;
    // Every statement the writer runs stays prepared (rusqlite keeps 16 by default).
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Now, to millisecond precision (what the database stores).
fn now() -> Timestamp {
    Timestamp::from_millisecond(Timestamp::now().as_millisecond())
        .expect("the current time is a valid timestamp")
}

fn timestamp(millis: i64) -> Result<Timestamp> {
    Timestamp::from_millisecond(millis)
        .map_err(|_| Error::Corrupt(format!("timestamp `{millis}` is out of range")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("column `{column}`: {e}")))
}

fn parse_state(text: &str) -> Result<RequestState> {
    RequestState::from_str(text).map_err(|e| Error::Corrupt(e.to_string()))
}

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod timers_tests;
#[cfg(test)]
mod wal_vfs_tests;
