//! [`SqliteStore`]: the [`Store`] port on SQLite, through sqlx. Reads use a pool of
//! connections; writes go to the writer task (`store/writer.rs`) on a connection of its own.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, SqlitePool};

use super::writer::{Tx, Writer};
use super::{
    Claim, Decided, DueTimer, Error, ListFilter, Page, PolicyDigests, ProvisionedObject,
    ReloadGeneration, ReplicaRecord, RequestRecord, Result, Store, StoreFuture, Transition,
    WriteStats, audit_log, audit_reads, claims, installation, objects, promotions, replicas,
    requests, timers,
};
use crate::audit::{Actor, AuditEvent, Details, StoredRow};
use crate::domain::{ModuleVerdict, ObjectRef, RequestState};
use crate::policy::set::Promotion;

/// How long a connection waits for another's lock (another process's write transaction, a
/// checkpoint) before its statement fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The size the WAL is truncated to when it starts over, if it had grown longer: a burst of
/// writes may grow it past, but not keep it there.
const WAL_SIZE_LIMIT: u64 = 64 << 20;

/// The SQLite database: cheap to clone, shared by every task.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Writer,
    installation: Arc<str>,
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the SQLite database at `path`, applies
    /// the migrations and starts the writer task (on the current tokio runtime).
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let open = |source| Error::Open {
            path: path.to_owned(),
            source,
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.clone())
            .await
            .map_err(open)?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let installation = installation::read(&pool).await?.into();
        let conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(open)?;
        Ok(Self {
            pool,
            writer: Writer::start(Tx::new(conn)),
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

    /// Runs `work` (the statements of one change) in the writer's next batch; returns its
    /// result once that batch is committed.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> StoreFuture<'t, T> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// The read pool: for copying the database (`wicket store migrate`), and for tests that
    /// look at (or tamper with) the database itself.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    #[cfg(test)]
    pub(super) fn writer(&self) -> &Writer {
        &self.writer
    }
}

impl Store for SqliteStore {
    fn installation(&self) -> &str {
        &self.installation
    }

    fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async {
            self.writer.close().await;
            self.pool.close().await;
        })
    }

    fn insert_decided<'a>(&'a self, decided: Decided<'a>) -> StoreFuture<'a, RequestRecord> {
        Box::pin(requests::insert_decided(self, decided))
    }

    fn transition<'a>(&'a self, t: Transition<'a>) -> StoreFuture<'a, RequestRecord> {
        Box::pin(requests::transition(self, t, None))
    }

    fn get_request<'a>(&'a self, id: &'a str) -> StoreFuture<'a, RequestRecord> {
        Box::pin(requests::get_request(&self.pool, id))
    }

    fn module_verdicts<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ModuleVerdict>> {
        Box::pin(requests::module_verdicts(&self.pool, id))
    }

    fn requests_in_state(&self, state: RequestState) -> StoreFuture<'_, Vec<RequestRecord>> {
        Box::pin(requests::requests_in_state(&self.pool, state))
    }

    fn list_requests<'a>(&'a self, filter: &'a ListFilter) -> StoreFuture<'a, Page<RequestRecord>> {
        Box::pin(requests::list_requests(&self.pool, filter))
    }

    fn record_object<'a>(
        &'a self,
        request_id: &'a str,
        object: &'a ObjectRef,
        actor: &'a Actor,
    ) -> StoreFuture<'a, bool> {
        Box::pin(objects::record_object(self, request_id, object, actor))
    }

    fn record_object_deleted<'a>(
        &'a self,
        request_id: &'a str,
        object: &'a ObjectRef,
        actor: &'a Actor,
    ) -> StoreFuture<'a, bool> {
        Box::pin(objects::record_object_deleted(
            self, request_id, object, actor,
        ))
    }

    fn objects_of<'a>(
        &'a self,
        request_id: &'a str,
        include_deleted: bool,
    ) -> StoreFuture<'a, Vec<ProvisionedObject>> {
        Box::pin(objects::objects_of(&self.pool, request_id, include_deleted))
    }

    fn save_promotion<'a>(
        &'a self,
        promotion: &'a Promotion,
        actor: &'a Actor,
    ) -> StoreFuture<'a, ()> {
        Box::pin(promotions::save_promotion(self, promotion, actor))
    }

    fn promotions(&self) -> StoreFuture<'_, Vec<Promotion>> {
        Box::pin(promotions::promotions(&self.pool))
    }

    fn append_audit<'a>(
        &'a self,
        request_id: Option<&'a str>,
        actor: &'a Actor,
        details: &'a Details,
    ) -> StoreFuture<'a, AuditEvent> {
        Box::pin(audit_log::append_audit(self, request_id, actor, details))
    }

    fn audit_events(&self, after: i64, limit: u32) -> StoreFuture<'_, Vec<AuditEvent>> {
        Box::pin(audit_log::audit_events(&self.pool, after, limit))
    }

    fn audit_events_of<'a>(
        &'a self,
        request_id: &'a str,
        limit: u32,
    ) -> StoreFuture<'a, Vec<AuditEvent>> {
        Box::pin(audit_log::audit_events_of(&self.pool, request_id, limit))
    }

    fn stored_audit_rows(&self, after: i64, limit: u32) -> StoreFuture<'_, Vec<StoredRow>> {
        Box::pin(audit_reads::stored_audit_rows(&self.pool, after, limit))
    }

    fn first_audit_seq_since(&self, time: i64) -> StoreFuture<'_, Option<i64>> {
        Box::pin(audit_reads::first_audit_seq_since(&self.pool, time))
    }

    fn transition_due<'a>(
        &'a self,
        t: Transition<'a>,
        due_at: Option<Timestamp>,
    ) -> StoreFuture<'a, RequestRecord> {
        Box::pin(requests::transition(self, t, Some(due_at)))
    }

    fn reschedule<'a>(
        &'a self,
        id: &'a str,
        state: RequestState,
        due_at: Timestamp,
        actor: &'a Actor,
        details: &'a Details,
    ) -> StoreFuture<'a, bool> {
        Box::pin(timers::reschedule(self, id, state, due_at, actor, details))
    }

    fn due_timers(&self) -> StoreFuture<'_, Vec<DueTimer>> {
        Box::pin(timers::due_timers(&self.pool))
    }

    fn due_at<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Timestamp>> {
        Box::pin(timers::due_at(&self.pool, id))
    }

    fn claim_due<'a>(&'a self, claim: Claim<'a>, limit: u32) -> StoreFuture<'a, Vec<DueTimer>> {
        Box::pin(claims::claim_due(self, &self.pool, claim, limit))
    }

    fn claim_timer<'a>(
        &'a self,
        id: &'a str,
        claim: Claim<'a>,
    ) -> StoreFuture<'a, Option<DueTimer>> {
        Box::pin(claims::claim_timer(self, id, claim))
    }

    fn renew_claims<'a>(
        &'a self,
        ids: &'a [String],
        claim: Claim<'a>,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(claims::renew_claims(self, ids, claim))
    }

    fn release_claim<'a>(&'a self, id: &'a str, replica: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(claims::release_claim(self, id, replica))
    }

    fn hold_deadlines<'a>(&'a self, ids: &'a [String], claim: Claim<'a>) -> StoreFuture<'a, u64> {
        Box::pin(claims::hold_deadlines(self, ids, claim))
    }

    fn acquire_lease<'a>(&'a self, name: &'a str, claim: Claim<'a>) -> StoreFuture<'a, bool> {
        Box::pin(claims::acquire_lease(self, name, claim))
    }

    fn release_lease<'a>(&'a self, name: &'a str, holder: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(claims::release_lease(self, name, holder))
    }

    fn heartbeat<'a>(&'a self, replica: &'a ReplicaRecord) -> StoreFuture<'a, ()> {
        Box::pin(replicas::heartbeat(self, replica))
    }

    fn replicas(&self, seen_since: Timestamp) -> StoreFuture<'_, Vec<ReplicaRecord>> {
        Box::pin(replicas::replicas(&self.pool, seen_since))
    }

    fn remove_replica<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(replicas::remove_replica(self, id))
    }

    fn publish_generation<'a>(
        &'a self,
        replica: &'a str,
        trigger: &'a str,
        digests: &'a PolicyDigests,
    ) -> StoreFuture<'a, ReloadGeneration> {
        Box::pin(replicas::publish_generation(
            self, replica, trigger, digests,
        ))
    }

    fn reload_generation(&self) -> StoreFuture<'_, Option<ReloadGeneration>> {
        Box::pin(replicas::reload_generation(&self.pool))
    }
}
