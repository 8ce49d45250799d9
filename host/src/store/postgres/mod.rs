//! [`PgStore`]: the [`Store`] port on PostgreSQL, through sqlx, for several replicas sharing
//! one database. Reads use the pool; writes go to this process's writer task
//! (`store/writer.rs`), which runs each batch of changes as one transaction on a pooled
//! connection under the audit chain's lock (`session.rs`). The schema is
//! `host/migrations/postgres/`, applied on open (sqlx's migrator takes a lock of its own, so
//! replicas starting together apply it once).
//!
//! A store operation that cannot reach the database (no connection within
//! `connect_timeout`, a connection lost mid-statement, a server shutting down) fails with
//! [`Error::Unavailable`]; the API answers it with a 503. A change that failed so is not
//! stored, unless the connection was lost during its `COMMIT` (then it may be).

mod audit;
mod claims;
mod import;
mod objects;
mod replicas;
mod requests;
mod session;
mod timers;

use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use jiff::Timestamp;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

pub use self::import::Copied;
use self::session::PgTx;
use super::writer::Writer;
use super::{
    Claim, Decided, DueTimer, Error, ListFilter, Page, PolicyDigests, ProvisionedObject,
    ReloadGeneration, ReplicaRecord, RequestRecord, Result, Store, StoreFuture, Transition,
    WriteStats,
};
use crate::audit::{Actor, AuditEvent, Details, StoredRow};
use crate::config::PostgresConfig;
use crate::domain::{ModuleVerdict, ObjectRef, RequestState};
use crate::policy::set::Promotion;

/// The PostgreSQL database: cheap to clone, shared by every task.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    writer: Writer<PgTx>,
    installation: Arc<str>,
}

impl PgStore {
    /// Connects to the database `config` names (its password from `password_file` or
    /// `password_env`), applies the migrations and starts the writer task (on the current
    /// tokio runtime). The database must exist.
    pub async fn open(config: &PostgresConfig) -> Result<Self> {
        let url = redacted(&config.url);
        let invalid = |message: String| Error::Config(format!("`data.url` `{url}`: {message}"));
        let mut options =
            PgConnectOptions::from_str(&config.url).map_err(|e| invalid(e.to_string()))?;
        if let Some(password) = config.password().map_err(Error::Config)? {
            options = options.password(&password);
        }
        if let Some(mode) = &config.ssl_mode {
            options = options.ssl_mode(
                PgSslMode::from_str(mode)
                    .map_err(|_| Error::Config(format!("`data.ssl_mode` `{mode}` is unknown")))?,
            );
        }
        if let Some(ca) = &config.ca_file {
            options = options.ssl_root_cert(ca);
        }
        options = options.application_name("wicket");
        let pool = PgPoolOptions::new()
            .max_connections(config.pool_size)
            .acquire_timeout(config.connect_timeout)
            .connect_with(options)
            .await
            .map_err(|source| Error::Connect {
                url: url.clone(),
                source,
            })?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let installation = read_installation(&pool).await?.into();
        Ok(Self {
            writer: Writer::start(PgTx::new(pool.clone())),
            pool,
            installation,
        })
    }

    /// Runs `work` (the statements of one change) in the writer's next batch; returns its
    /// result once that batch is committed.
    async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'t> FnOnce(&'t mut PgTx) -> StoreFuture<'t, T> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// The pool, for tests that look at the database itself.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// `url` with its password, if it has one, replaced by `***` (for messages).
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Reads the installation id (see `store/installation.rs`).
async fn read_installation(pool: &PgPool) -> Result<String> {
    let id: Option<String> = sqlx::query_scalar("SELECT id FROM installation WHERE singleton = 1")
        .fetch_optional(pool)
        .await?;
    let id = id.ok_or_else(|| Error::Corrupt("the installation id is missing".to_owned()))?;
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(id)
    } else {
        Err(Error::Corrupt(format!(
            "installation id `{id}` is malformed"
        )))
    }
}

/// Whether `error` means the database could not be reached (rather than refusing a
/// statement): no connection in time, a broken connection, a server shutting down or full.
fn unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exception; 57P0x: the server is shutting down or starting;
        // 53300: too many connections.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }),
        _ => false,
    }
}

/// `error`, as [`Error::Unavailable`] when it says the database could not be reached.
fn classify(error: Error) -> Error {
    match error {
        Error::Query(e) if unreachable(&e) => Error::Unavailable(e.to_string()),
        Error::Write(e) if unreachable(&e) => Error::Unavailable(e.to_string()),
        error => error,
    }
}

/// `future`'s result, an unreachable database named as such.
fn guarded<'a, T: 'a>(future: impl Future<Output = Result<T>> + Send + 'a) -> StoreFuture<'a, T> {
    Box::pin(async move { future.await.map_err(classify) })
}

impl Store for PgStore {
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
        guarded(requests::insert_decided(self, decided))
    }

    fn transition<'a>(&'a self, t: Transition<'a>) -> StoreFuture<'a, RequestRecord> {
        guarded(requests::transition(self, t, None))
    }

    fn get_request<'a>(&'a self, id: &'a str) -> StoreFuture<'a, RequestRecord> {
        guarded(requests::get_request(&self.pool, id))
    }

    fn module_verdicts<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<ModuleVerdict>> {
        guarded(requests::module_verdicts(&self.pool, id))
    }

    fn requests_in_state(&self, state: RequestState) -> StoreFuture<'_, Vec<RequestRecord>> {
        guarded(requests::requests_in_state(&self.pool, state))
    }

    fn list_requests<'a>(&'a self, filter: &'a ListFilter) -> StoreFuture<'a, Page<RequestRecord>> {
        guarded(requests::list_requests(&self.pool, filter))
    }

    fn record_object<'a>(
        &'a self,
        request_id: &'a str,
        object: &'a ObjectRef,
        actor: &'a Actor,
    ) -> StoreFuture<'a, bool> {
        guarded(objects::record_object(self, request_id, object, actor))
    }

    fn record_object_deleted<'a>(
        &'a self,
        request_id: &'a str,
        object: &'a ObjectRef,
        actor: &'a Actor,
    ) -> StoreFuture<'a, bool> {
        guarded(objects::record_object_deleted(
            self, request_id, object, actor,
        ))
    }

    fn objects_of<'a>(
        &'a self,
        request_id: &'a str,
        include_deleted: bool,
    ) -> StoreFuture<'a, Vec<ProvisionedObject>> {
        guarded(objects::objects_of(&self.pool, request_id, include_deleted))
    }

    fn save_promotion<'a>(
        &'a self,
        promotion: &'a Promotion,
        actor: &'a Actor,
    ) -> StoreFuture<'a, ()> {
        guarded(objects::save_promotion(self, promotion, actor))
    }

    fn promotions(&self) -> StoreFuture<'_, Vec<Promotion>> {
        guarded(objects::promotions(&self.pool))
    }

    fn append_audit<'a>(
        &'a self,
        request_id: Option<&'a str>,
        actor: &'a Actor,
        details: &'a Details,
    ) -> StoreFuture<'a, AuditEvent> {
        guarded(audit::append_audit(self, request_id, actor, details))
    }

    fn audit_events(&self, after: i64, limit: u32) -> StoreFuture<'_, Vec<AuditEvent>> {
        guarded(audit::audit_events(&self.pool, after, limit))
    }

    fn audit_events_of<'a>(
        &'a self,
        request_id: &'a str,
        limit: u32,
    ) -> StoreFuture<'a, Vec<AuditEvent>> {
        guarded(audit::audit_events_of(&self.pool, request_id, limit))
    }

    fn stored_audit_rows(&self, after: i64, limit: u32) -> StoreFuture<'_, Vec<StoredRow>> {
        guarded(audit::stored_audit_rows(&self.pool, after, limit))
    }

    fn first_audit_seq_since(&self, time: i64) -> StoreFuture<'_, Option<i64>> {
        guarded(audit::first_audit_seq_since(&self.pool, time))
    }

    fn transition_due<'a>(
        &'a self,
        t: Transition<'a>,
        due_at: Option<Timestamp>,
    ) -> StoreFuture<'a, RequestRecord> {
        guarded(requests::transition(self, t, Some(due_at)))
    }

    fn reschedule<'a>(
        &'a self,
        id: &'a str,
        state: RequestState,
        due_at: Timestamp,
        actor: &'a Actor,
        details: &'a Details,
    ) -> StoreFuture<'a, bool> {
        guarded(timers::reschedule(self, id, state, due_at, actor, details))
    }

    fn due_timers(&self) -> StoreFuture<'_, Vec<DueTimer>> {
        guarded(timers::due_timers(&self.pool))
    }

    fn due_at<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Timestamp>> {
        guarded(timers::due_at(&self.pool, id))
    }

    fn claim_due<'a>(&'a self, claim: Claim<'a>, limit: u32) -> StoreFuture<'a, Vec<DueTimer>> {
        guarded(claims::claim_due(&self.pool, claim, limit))
    }

    fn claim_timer<'a>(
        &'a self,
        id: &'a str,
        claim: Claim<'a>,
    ) -> StoreFuture<'a, Option<DueTimer>> {
        guarded(claims::claim_timer(&self.pool, id, claim))
    }

    fn renew_claims<'a>(
        &'a self,
        ids: &'a [String],
        claim: Claim<'a>,
    ) -> StoreFuture<'a, Vec<String>> {
        guarded(claims::renew_claims(&self.pool, ids, claim))
    }

    fn release_claim<'a>(&'a self, id: &'a str, replica: &'a str) -> StoreFuture<'a, bool> {
        guarded(claims::release_claim(&self.pool, id, replica))
    }

    fn hold_deadlines<'a>(&'a self, ids: &'a [String], claim: Claim<'a>) -> StoreFuture<'a, u64> {
        guarded(claims::hold_deadlines(&self.pool, ids, claim))
    }

    fn acquire_lease<'a>(&'a self, name: &'a str, claim: Claim<'a>) -> StoreFuture<'a, bool> {
        guarded(claims::acquire_lease(&self.pool, name, claim))
    }

    fn release_lease<'a>(&'a self, name: &'a str, holder: &'a str) -> StoreFuture<'a, bool> {
        guarded(claims::release_lease(&self.pool, name, holder))
    }

    fn heartbeat<'a>(&'a self, replica: &'a ReplicaRecord) -> StoreFuture<'a, ()> {
        guarded(replicas::heartbeat(&self.pool, replica))
    }

    fn replicas(&self, seen_since: Timestamp) -> StoreFuture<'_, Vec<ReplicaRecord>> {
        guarded(replicas::replicas(&self.pool, seen_since))
    }

    fn remove_replica<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        guarded(replicas::remove_replica(&self.pool, id))
    }

    fn publish_generation<'a>(
        &'a self,
        replica: &'a str,
        trigger: &'a str,
        digests: &'a PolicyDigests,
    ) -> StoreFuture<'a, ReloadGeneration> {
        guarded(replicas::publish_generation(
            &self.pool, replica, trigger, digests,
        ))
    }

    fn reload_generation(&self) -> StoreFuture<'_, Option<ReloadGeneration>> {
        guarded(replicas::reload_generation(&self.pool))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_never_shown() {
        assert_eq!(
            redacted("postgres://wicket:s3cret@db:5432/wicket"),
            "postgres://wicket:***@db:5432/wicket"
        );
        assert_eq!(
            redacted("postgres://wicket@db/wicket"),
            "postgres://wicket@db/wicket"
        );
    }

    #[test]
    fn lost_connections_are_unavailability_and_refusals_are_not() {
        assert!(matches!(
            classify(Error::Query(sqlx::Error::PoolTimedOut)),
            Error::Unavailable(_)
        ));
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(matches!(
            classify(Error::Write(Arc::new(sqlx::Error::Io(io)))),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            classify(Error::Query(sqlx::Error::RowNotFound)),
            Error::Query(_)
        ));
    }
}
