//! The audit table: appending an event to the hash chain inside a write transaction, and
//! reading events back in order.

use sqlx::{Row, SqliteConnection};

use super::{Error, Result, Store, now, timestamp};
use crate::audit::chain::{self, GENESIS_HASH, Hashed};
use crate::audit::{Actor, AuditEvent, Details};

/// Appends one event after the current head of the chain. Must run inside a transaction
/// started with [`Store::begin_write`] so that no other writer moves the head meanwhile.
pub(super) async fn append(
    conn: &mut SqliteConnection,
    request_id: Option<&str>,
    actor: &Actor,
    details: &Details,
) -> Result<AuditEvent> {
    let head = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (seq, prev_hash) = match head {
        Some(row) => (row.try_get::<i64, _>("seq")? + 1, row.try_get("hash")?),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let actor = serde_json::to_value(actor).map_err(|e| Error::Corrupt(e.to_string()))?;
    let mut details_json =
        serde_json::to_value(details).map_err(|e| Error::Corrupt(e.to_string()))?;
    chain::redact(&mut details_json);
    let time = now();
    let kind = details.kind();
    let hash = chain::event_hash(
        &prev_hash,
        Hashed {
            seq,
            time,
            kind,
            request_id,
            actor: &actor,
            details: &details_json,
        },
    );
    sqlx::query(
        "INSERT INTO audit_events (seq, time, kind, request_id, actor, details, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(time.as_millisecond())
    .bind(kind)
    .bind(request_id)
    .bind(chain::canonical_json(&actor))
    .bind(chain::canonical_json(&details_json))
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    Ok(AuditEvent {
        seq,
        time,
        kind: kind.to_owned(),
        request_id: request_id.map(str::to_owned),
        actor,
        details: details_json,
        prev_hash,
        hash,
    })
}

impl Store {
    /// Appends an event that goes with no other change (a failed authentication, an issued
    /// kubeconfig).
    pub async fn append_audit(
        &self,
        request_id: Option<&str>,
        actor: &Actor,
        details: &Details,
    ) -> Result<AuditEvent> {
        let mut tx = self.begin_write().await?;
        let event = append(&mut tx, request_id, actor, details).await?;
        tx.commit().await?;
        Ok(event)
    }

    /// Up to `limit` events with `seq` greater than `after`, oldest first.
    pub async fn audit_events(&self, after: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
             FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(read_event).collect()
    }

    /// Up to `limit` events about one request, oldest first.
    pub async fn audit_events_of(&self, request_id: &str, limit: u32) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
             FROM audit_events WHERE request_id = ? ORDER BY seq LIMIT ?",
        )
        .bind(request_id)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(read_event).collect()
    }
}

fn read_event(row: &sqlx::sqlite::SqliteRow) -> Result<AuditEvent> {
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

/// An audit row exactly as stored, for verification (which must survive unreadable rows).
#[derive(Debug, Clone)]
pub(crate) struct RawAuditRow {
    pub seq: i64,
    pub time: i64,
    pub kind: String,
    pub request_id: Option<String>,
    pub actor: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Store {
    /// Up to `limit` stored rows with `seq` greater than `after`, in `seq` order.
    pub(crate) async fn raw_audit_rows(&self, after: i64, limit: u32) -> Result<Vec<RawAuditRow>> {
        let rows = sqlx::query(
            "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
             FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RawAuditRow {
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
}
