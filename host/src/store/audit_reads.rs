//! The store as the audit log's source of rows: the reads verification, export, archiving
//! and the exporter use ([`AuditRows`]), for any [`Store`].

use sqlx::{Row, SqlitePool};

use super::{Result, Store};
use crate::audit::{AuditRows, SourceError, StoredRow};

/// Up to `limit` stored rows with `seq` greater than `after`, in `seq` order, exactly as
/// stored.
pub(super) async fn stored_audit_rows(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
) -> Result<Vec<StoredRow>> {
    let rows = sqlx::query(
        "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
         FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StoredRow {
                seq: row.try_get("seq")?,
                time: row.try_get("time")?,
                kind: row.try_get("kind")?,
                request_id: row.try_get("request_id")?,
                actor: row.try_get("actor")?,
                details: row.try_get("details")?,
                prev_hash: row.try_get("prev_hash")?,
                hash: row.try_get("hash")?,
            })
        })
        .collect()
}

/// The `seq` of the first event at or after `time` (Unix milliseconds).
pub(super) async fn first_audit_seq_since(pool: &SqlitePool, time: i64) -> Result<Option<i64>> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM audit_events WHERE time >= ?")
        .bind(time)
        .fetch_one(pool)
        .await?;
    Ok(seq)
}

/// Every store, and a store behind `dyn Store`, is a source of audit rows.
impl<S: Store + ?Sized> AuditRows for S {
    async fn rows_after(&self, after: i64, limit: u32) -> Result<Vec<StoredRow>, SourceError> {
        Ok(self.stored_audit_rows(after, limit).await?)
    }

    async fn first_seq_since(&self, time: i64) -> Result<Option<i64>, SourceError> {
        Ok(self.first_audit_seq_since(time).await?)
    }
}

#[cfg(test)]
#[path = "audit_reads_tests.rs"]
mod tests;
