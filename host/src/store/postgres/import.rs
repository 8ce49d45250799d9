//! `wicket store migrate`: an existing SQLite installation copied into an empty PostgreSQL
//! database in one transaction, every row as stored (audit events byte for byte, so the chain
//! and its anchors verify the same), and the installation id with them (the objects on the
//! clusters are labelled with it).

use sqlx::{Row, SqlitePool};

use super::PgStore;
use super::session::CHAIN_LOCK;
use crate::store::{Error, Result, SqliteStore};

/// How many rows of each table were copied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Access requests.
    pub requests: u64,
    /// Provisioned objects.
    pub objects: u64,
    /// Policy promotions.
    pub promotions: u64,
    /// Audit events.
    pub events: u64,
}

/// Audit events read from SQLite at a time.
const PAGE: i64 = 1000;

impl PgStore {
    /// Copies every row of `from` into this database, which must hold no request, promotion
    /// or audit event; all or nothing. The installation id becomes `from`'s: open the store
    /// again to see it.
    pub async fn import_sqlite(&self, from: &SqliteStore) -> Result<Copied> {
        let source = from.pool();
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CHAIN_LOCK)
            .execute(&mut *tx)
            .await?;
        let used: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM requests) OR EXISTS (SELECT 1 FROM audit_events)
                 OR EXISTS (SELECT 1 FROM policy_promotions)",
        )
        .fetch_one(&mut *tx)
        .await?;
        if used {
            return Err(Error::NotEmpty);
        }
        let installation = sqlx::query("SELECT id, created_at FROM installation")
            .fetch_one(source)
            .await?;
        sqlx::query("UPDATE installation SET id = $1, created_at = $2")
            .bind(installation.try_get::<String, _>("id")?)
            .bind(installation.try_get::<i64, _>("created_at")?)
            .execute(&mut *tx)
            .await?;
        let mut copied = Copied::default();
        for row in sqlx::query(
            "SELECT id, requester_subject, requester_issuer, cluster, namespaces, access,
                    duration_seconds, reason, context, state, verdict, grant_json, expires_at,
                    error, created_at, updated_at, modules, due_at
             FROM requests ORDER BY rowid",
        )
        .fetch_all(source)
        .await?
        {
            sqlx::query(
                "INSERT INTO requests (id, requester_subject, requester_issuer, cluster,
                        namespaces, access, duration_seconds, reason, context, state, verdict,
                        grant_json, expires_at, error, created_at, updated_at, modules, due_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                         $17, $18)",
            )
            .bind(row.try_get::<String, _>(0)?)
            .bind(row.try_get::<String, _>(1)?)
            .bind(row.try_get::<String, _>(2)?)
            .bind(row.try_get::<String, _>(3)?)
            .bind(row.try_get::<String, _>(4)?)
            .bind(row.try_get::<String, _>(5)?)
            .bind(row.try_get::<i64, _>(6)?)
            .bind(row.try_get::<String, _>(7)?)
            .bind(row.try_get::<String, _>(8)?)
            .bind(row.try_get::<String, _>(9)?)
            .bind(row.try_get::<Option<String>, _>(10)?)
            .bind(row.try_get::<Option<String>, _>(11)?)
            .bind(row.try_get::<Option<i64>, _>(12)?)
            .bind(row.try_get::<Option<String>, _>(13)?)
            .bind(row.try_get::<i64, _>(14)?)
            .bind(row.try_get::<i64, _>(15)?)
            .bind(row.try_get::<String, _>(16)?)
            .bind(row.try_get::<Option<i64>, _>(17)?)
            .execute(&mut *tx)
            .await?;
            copied.requests += 1;
        }
        for row in sqlx::query(
            "SELECT request_id, kind, namespace, name, created_at, deleted_at
             FROM provisioned_objects ORDER BY rowid",
        )
        .fetch_all(source)
        .await?
        {
            sqlx::query(
                "INSERT INTO provisioned_objects (request_id, kind, namespace, name, created_at,
                        deleted_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(row.try_get::<String, _>(0)?)
            .bind(row.try_get::<String, _>(1)?)
            .bind(row.try_get::<String, _>(2)?)
            .bind(row.try_get::<String, _>(3)?)
            .bind(row.try_get::<i64, _>(4)?)
            .bind(row.try_get::<Option<i64>, _>(5)?)
            .execute(&mut *tx)
            .await?;
            copied.objects += 1;
        }
        for row in sqlx::query(
            "SELECT cluster, entry, candidate, promoted_at FROM policy_promotions ORDER BY rowid",
        )
        .fetch_all(source)
        .await?
        {
            sqlx::query(
                "INSERT INTO policy_promotions (cluster, entry, candidate, promoted_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(row.try_get::<String, _>(0)?)
            .bind(row.try_get::<String, _>(1)?)
            .bind(row.try_get::<String, _>(2)?)
            .bind(row.try_get::<i64, _>(3)?)
            .execute(&mut *tx)
            .await?;
            copied.promotions += 1;
        }
        copied.events = copy_events(source, &mut tx).await?;
        tx.commit().await?;
        Ok(copied)
    }
}

/// Copies the audit events in `seq` order, a page at a time, each column as stored.
async fn copy_events(
    source: &SqlitePool,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
) -> Result<u64> {
    let mut after = 0_i64;
    let mut copied = 0;
    loop {
        let rows = sqlx::query(
            "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
             FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(source)
        .await?;
        let Some(last) = rows.last() else {
            return Ok(copied);
        };
        after = last.try_get(0)?;
        for row in &rows {
            sqlx::query(
                "INSERT INTO audit_events (seq, time, kind, request_id, actor, details,
                        prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(row.try_get::<i64, _>(0)?)
            .bind(row.try_get::<i64, _>(1)?)
            .bind(row.try_get::<String, _>(2)?)
            .bind(row.try_get::<Option<String>, _>(3)?)
            .bind(row.try_get::<String, _>(4)?)
            .bind(row.try_get::<String, _>(5)?)
            .bind(row.try_get::<String, _>(6)?)
            .bind(row.try_get::<String, _>(7)?)
            .execute(&mut **tx)
            .await?;
            copied += 1;
        }
    }
}
