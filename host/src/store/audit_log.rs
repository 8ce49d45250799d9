//! The audit table: appending an event to the hash chain inside a write transaction, and
//! reading events back in order.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::writer::{Head, Tx};
use super::{Error, Result, SqliteStore, now, timestamp};
use crate::audit::canonical::to_canonical_json;
use crate::audit::chain::{self, Canonical};
use crate::audit::{Actor, AuditEvent, Details};

/// An event ready for the chain: its actor and details redacted, in canonical JSON. The
/// caller makes it, so that the writer only numbers, times and hashes it.
#[derive(Debug)]
pub(super) struct Prepared {
    kind: &'static str,
    actor_json: String,
    details_json: String,
}

impl Prepared {
    /// `details`, caused by `actor`, redacted and in canonical JSON.
    pub(super) fn new(actor: &Actor, details: &Details) -> Result<Self> {
        let corrupt = |e: serde_json::Error| Error::Corrupt(e.to_string());
        Ok(Self {
            kind: details.kind(),
            actor_json: to_canonical_json(actor).map_err(corrupt)?,
            details_json: to_canonical_json(details).map_err(corrupt)?,
        })
    }
}

/// An event placed in the chain, as it is stored.
#[derive(Debug)]
pub(super) struct Chained {
    pub(super) seq: i64,
    pub(super) time: jiff::Timestamp,
    pub(super) kind: &'static str,
    pub(super) actor_json: String,
    pub(super) details_json: String,
    pub(super) prev_hash: String,
    pub(super) hash: String,
}

impl Chained {
    /// The event, as [`super::Store::audit_events`] would read it back.
    pub(super) fn into_event(self, request_id: Option<&str>) -> Result<AuditEvent> {
        let json = |column: &str, text: &str| {
            serde_json::from_str(text)
                .map_err(|e| Error::Corrupt(format!("audit column `{column}`: {e}")))
        };
        Ok(AuditEvent {
            seq: self.seq,
            time: self.time,
            kind: self.kind.to_owned(),
            request_id: request_id.map(str::to_owned),
            actor: json("actor", &self.actor_json)?,
            details: json("details", &self.details_json)?,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

impl Tx {
    /// Appends one event after the head of the chain.
    pub(super) async fn append(
        &mut self,
        request_id: Option<&str>,
        event: Prepared,
    ) -> Result<AuditEvent> {
        let head = self.head.clone();
        let mut chained = self.chain(request_id, vec![event]);
        if let Err(error) = self.insert_events(request_id, &chained).await {
            self.head = head;
            return Err(error);
        }
        chained
            .pop()
            .ok_or_else(|| Error::Corrupt("an appended event went missing".to_owned()))?
            .into_event(request_id)
    }

    /// Stores events [`Tx::chain`] placed, about `request_id`, in this transaction: one
    /// statement for all of them (each statement is a round trip to the connection's thread).
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        );
        for _ in 1..events.len() {
            sql.push_str(", (?, ?, ?, ?, ?, ?, ?, ?)");
        }
        // Built from literals only; every value is a bound parameter.
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
        insert.execute(&mut self.conn).await?;
        Ok(())
    }

    /// Numbers, times and hashes `events` (all about `request_id`), in order, after the head
    /// of the chain and moves the head past them. The caller stores them
    /// ([`Tx::insert_events`]) in this transaction, or fails its write (which gives the head
    /// back).
    pub(super) fn chain(
        &mut self,
        request_id: Option<&str>,
        events: Vec<Prepared>,
    ) -> Vec<Chained> {
        self.head.chain(request_id, events)
    }
}

impl Head {
    /// Numbers, times and hashes `events` (all about `request_id`), in order, after this head
    /// and moves it past them (the same bytes on every database engine).
    pub(super) fn chain(
        &mut self,
        request_id: Option<&str>,
        events: Vec<Prepared>,
    ) -> Vec<Chained> {
        let time = now();
        events
            .into_iter()
            .map(|prepared| {
                let seq = self.seq + 1;
                let hash = chain::canonical_event_hash(
                    &self.hash,
                    Canonical {
                        seq,
                        time,
                        kind: prepared.kind,
                        request_id,
                        actor: &prepared.actor_json,
                        details: &prepared.details_json,
                    },
                );
                let next = Head {
                    seq,
                    hash: hash.clone(),
                };
                let prev_hash = std::mem::replace(self, next).hash;
                Chained {
                    seq,
                    time,
                    kind: prepared.kind,
                    actor_json: prepared.actor_json,
                    details_json: prepared.details_json,
                    prev_hash,
                    hash,
                }
            })
            .collect()
    }
}

/// Appends an event that goes with no other change.
pub(super) async fn append_audit(
    store: &SqliteStore,
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
pub(super) async fn audit_events(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>> {
    let rows = sqlx::query(
        "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
         FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(read_event).collect()
}

/// Up to `limit` events about one request, oldest first.
pub(super) async fn audit_events_of(
    pool: &SqlitePool,
    request_id: &str,
    limit: u32,
) -> Result<Vec<AuditEvent>> {
    let rows = sqlx::query(
        "SELECT seq, time, kind, request_id, actor, details, prev_hash, hash
         FROM audit_events WHERE request_id = ? ORDER BY seq LIMIT ?",
    )
    .bind(request_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(read_event).collect()
}

fn read_event(row: &SqliteRow) -> Result<AuditEvent> {
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
