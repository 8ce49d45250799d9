//! Wicket's state in SQLite (WAL mode, foreign keys on, busy timeout): access requests and
//! their states, the policy verdicts, the Kubernetes objects provisioned for each request,
//! promoted candidate policies, and the audit log. Every change that matters is written in one transaction together with
//! its audit event, so the log and the state never disagree.
//!
//! Queries are checked at run time (no database is needed to build); the schema lives in
//! `host/migrations/` and is applied on open.

mod audit_log;
mod objects;
mod promotions;
mod requests;
mod state;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

pub(crate) use audit_log::RawAuditRow;
pub use objects::{ObjectRef, ProvisionedObject};
pub use requests::{ListFilter, ModuleVerdict, Page, RequestRecord, Transition};
pub use state::{RequestState, UnknownState};

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
            .connect_with(options)
            .await
            .map_err(|source| Error::Open {
                path: path.to_owned(),
                source,
            })?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
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

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction that holds the write lock from its first statement, so
    /// that two writers never read the same audit chain head.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
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
pub(crate) mod tests;
