//! The audit table on PostgreSQL: appending events to the chain inside the writer's
//! transaction, and reading them back (events, and rows exactly as stored).

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::PgStore;
use super::session::PgTx;
use crate::audit::{Actor, AuditEvent, Details, StoredRow};
use crate::store::audit_log::{Chained, Prepared};
use crate::store::{Error, Result, timestamp};

impl PgTx {
    /// Appends one event after the head of the chain.
    pub(super) async fn append(
        &mut self,
        request_id: Option<&str>,
        event: Prepared,
    ) -> Result<AuditEvent> {
        let mut chained = self.chain(request_id, vec![event]);
        self.insert_events(request_id, &chained).await?;
        chained
            .pop()
            .ok_or_else(|| Error::Corrupt("an appended event went missing".to_owned()))?
            .into_event(request_id)
    }

    /// Places `events` after the head of the chain and moves the head past them; the caller
    /// stores them ([`PgTx::insert_events`]) or fails its write (which gives the head back).
    pub(super) fn chain(
        &mut self,
        request_id: Option<&str>,
        events: Vec<Prepared>,
    ) -> Vec<Chained> {
        self.head_mut().chain(request_id, events)
    }

    /// Stores events [`PgTx::chain`] placed, in one statement.
    pub(super) async fn insert_events(
        &mut self,
        request_id: Option<&str>,
        events: &[Chained],
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut sql = String::from(
            "INSERT INTO audit_events (seq, time, kind, request_id, actor, details, prev_hash, hash)
             VALUES ",
        );
        for n in 0..events.len() {
            let p = n * 8;
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7,
                p + 8
            ));
        }
        // Built from literals and numbers only; every value is a bound parameter.
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for event in events {
            insert = insert
                .bind(event.seq)
                .bind(event.time.as_millisecond())
                .bind(event.kind)
                .bind(request_id)
                .bind(&event.actor_json)
                .bind(&event.details_json)
                .bind(&event.prev_hash)
                .bind(&event.hash);
        }
        insert.execute(self.conn()).await?;
        Ok(())
    }
}

/// Appends an event that goes with no other change.
pub(super) async fn append_audit(
    store: &PgStore,
    request_id: Option<&str>,
    actor: &Actor,
    details: &Details,
) -> Result<AuditEvent> {
    let request_id = request_id.map(str::to_owned);
    let event = Prepared::new(actor, details)?;
    store
        .write(move |tx| Box::pin(async move { tx.append(request_id.as_deref(), event).await }))
        .await
}

/// Up to `limit` events with `seq` greater than `after`, oldest first.
pub(super) async fn audit_events(pool: &PgPool, after: i64, limit: u32) -> Result<Vec<AuditEvent>> {
    let rows = sqlx::query(
        "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
         FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(read_event).collect()
}

/// Up to `limit` events about one request, oldest first.
pub(super) async fn audit_events_of(
    pool: &PgPool,
    request_id: &str,
    limit: u32,
) -> Result<Vec<AuditEvent>> {
    let rows = sqlx::query(
        "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
         FROM audit_events WHERE request_id = $1 ORDER BY seq LIMIT $2",
    )
    .bind(request_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(read_event).collect()
}

fn read_event(row: &PgRow) -> Result<AuditEvent> {
    let json = |column: &str| -> Result<serde_json::Value> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Corrupt(format!("audit column `{column}`: {e}")))
    };
    Ok(AuditEvent {
        seq: row.try_get("seq")?,
        time: timestamp(row.try_get("time")?)?,
        kind: row.try_get("kind")?,
        request_id: row.try_get("request_id")?,
        actor: json("actor")?,
        details: json("details")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Up to `limit` stored rows with `seq` greater than `after`, exactly as stored.
pub(super) async fn stored_audit_rows(
    pool: &PgPool,
    after: i64,
    limit: u32,
) -> Result<Vec<StoredRow>> {
    let rows = sqlx::query(
        "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
         FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
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
pub(super) async fn first_audit_seq_since(pool: &PgPool, time: i64) -> Result<Option<i64>> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM audit_events WHERE time >= $1")
        .bind(time)
        .fetch_one(pool)
        .await?;
    Ok(seq)
}
