//! Wicket's state behind one port, the [`Store`] trait: the installation id, access requests,
//! their states and the time of their timers (`due_at`, see `timers.rs`), the policy verdicts, the Kubernetes objects provisioned for each request,
//! promoted candidate policies, the replicas sharing the database and the reload generation
//! they follow (`replicas.rs`), and the audit log. Every change that matters is written in one
//! transaction together with its audit events, so the log and the state never disagree. The
//! workflow, the API and the CLI hold an `Arc<dyn Store>` made by [`open`] from `[data]`:
//! [`SqliteStore`] implements it on SQLite through sqlx (WAL mode, foreign keys on, busy
//! timeout), the embedded default for one process; [`PgStore`] on PostgreSQL
//! (`store/postgres/`), for several replicas on one database. Every implementation passes the
//! same conformance suite (`store/conformance.rs`).
//!
//! # Writes: one writer task, group commit
//!
//! Reads use a pool of connections. Every write goes to one writer task over a channel
//! (`store/writer.rs`): the task takes every change that is waiting and runs them in one
//! transaction (each change under its own savepoint, so a failing one is rolled back alone),
//! and answers each caller only after that commit.
//!
//! # The audit chain's head
//!
//! Each event carries the hash of the one before. The head (`seq`, `hash` of the newest event)
//! is read inside each write transaction, after it took the database's write lock, and moved
//! by the events that transaction appends: it is never held in a process's memory between
//! transactions, so several processes (or replicas) writing to one database extend one chain.
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
//! The journal is a WAL with `synchronous=FULL`: every commit is synced to disk (`fsync` of the
//! WAL) before any of its callers is answered, so an answered change survives a crash of the
//! process, of the kernel, and a power cut. The group commit shares that `fsync` among every
//! change of a batch. A crash never leaves the database corrupt or half-written, and the audit
//! chain stays whole.
//!
//! On PostgreSQL a change is answered once its batch's `COMMIT` returned: durable as the
//! server's `synchronous_commit` says (`on` by default: the WAL flushed, and with synchronous
//! standbys, on them too). One writer per process batches that process's changes, so the
//! chain lock and the flush are shared the same way.
//!
//! Queries are checked at run time (no database is needed to build); the schema lives in
//! `host/migrations/` (SQLite) and `host/migrations/postgres/`, and is applied on open.

mod audit_log;
mod audit_reads;
mod claims;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod installation;
mod objects;
mod port;
mod postgres;
mod promotions;
mod replicas;
mod requests;
mod sqlite;
mod timers;
mod writer;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use jiff::Timestamp;

use crate::config::DataConfig;
use crate::domain::RequestState;

pub use claims::Claim;
pub use objects::ProvisionedObject;
pub use port::{Store, StoreFuture};
pub use postgres::{Copied, PgStore};
pub use replicas::{
    EntryDigest, FORGET_REPLICAS_AFTER, PolicyDigests, ReloadGeneration, ReplicaRecord,
};
pub use requests::{Decided, ListFilter, Page, RequestRecord, Transition};
pub use sqlite::SqliteStore;
pub use timers::DueTimer;
pub use writer::WriteStats;

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
    /// The database server could not be reached when the store was opened.
    #[error("cannot connect to database `{url}`: {source}")]
    Connect {
        /// The database's URL (any password in it hidden).
        url: String,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// The database's configuration is invalid (its URL, its password file).
    #[error("{0}")]
    Config(String),
    /// The database could not be reached (no connection within the connect timeout, or the
    /// connection was lost): nothing of the change was stored. Retrying later may succeed.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database could not be opened.
    #[error("cannot open database `{path}`: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// `wicket store migrate` found the database it copies into in use.
    #[error(
        "the database to copy into is not empty (it holds requests, promotions or audit events)"
    )]
    NotEmpty,
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
    /// The transaction carrying this change failed; nothing of it was stored.
    #[error("database write failed: {0}")]
    Write(#[source] Arc<sqlx::Error>),
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

/// Opens the store `[data]` names: PostgreSQL when it has a `postgres://` `url`, else the
/// SQLite file at `path` (created if missing).
pub async fn open(config: &DataConfig) -> Result<Arc<dyn Store>> {
    Ok(match &config.postgres {
        Some(postgres) => Arc::new(PgStore::open(postgres).await?),
        None => Arc::new(SqliteStore::open(&config.path).await?),
    })
}

/// [`open`], for commands that read an existing installation: a SQLite database must exist
/// (a file, or a data directory holding `wicket.db`); it is never created.
pub async fn open_existing(config: &DataConfig) -> Result<Arc<dyn Store>> {
    Ok(match &config.postgres {
        Some(postgres) => Arc::new(PgStore::open(postgres).await?),
        None => Arc::new(SqliteStore::open_existing(&config.path).await?),
    })
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
mod claims_tests;
#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod replicas_tests;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod timers_tests;
