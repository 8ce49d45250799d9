//! The audit table: appending an event to the hash chain inside a write transaction, and
//! reading events back in order.

use sqlx::Row;

use super::writer::{Head, Tx};
use super::{Error, Result, Store, now, timestamp};
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
        Ok(Self {
            kind: details.kind(),
            actor_json: canonical(actor)?,
            details_json: canonical(details)?,
        })
    }
}

fn canonical<T: serde::Serialize>(value: &T) -> Result<String> {
    to_canonical_json(value).map_err(|e| Error::Corrupt(e.to_string()))
}

/// An event placed in the chain, as it is stored.
#[derive(Debug)]
pub(super) struct Chained {
    seq: i64,
    time: jiff::Timestamp,
    kind: &'static str,
    actor_json: String,
    details_json: String,
    prev_hash: String,
    hash: String,
}

impl Chained {
    /// The event, as [`Store::audit_events`] would read it back.
    fn into_event(self, request_id: Option<&str>) -> Result<AuditEvent> {
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
    pub(super) fn append(
        &mut self,
        request_id: Option<&str>,
        event: Prepared,
    ) -> Result<AuditEvent> {
        let head = self.head.clone();
        let mut chained = self.chain(request_id, vec![event]);
        if let Err(error) = self.insert_events(request_id, &chained) {
            self.head = head;
            return Err(error);
        }
        chained
            .pop()
            .ok_or_else(|| Error::Corrupt("an appended event went missing".to_owned()))?
            .into_event(request_id)
    }

    /// Stores events [`Tx::chain`] placed, about `request_id`, in this transaction.
    pub(super) fn insert_events(&self, request_id: Option<&str>, events: &[Chained]) -> Result<()> {
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO audit_events (seq, time, kind, request_id, actor, details, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )?;
        for event in events {
            insert.execute(rusqlite::params![
                event.seq,
                event.time.as_millisecond(),
                event.kind,
                request_id,
                event.actor_json,
                event.details_json,
                event.prev_hash,
                event.hash,
            ])?;
        }
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
        let time = now();
        events
            .into_iter()
            .map(|prepared| {
                let seq = self.head.seq + 1;
                let hash = chain::canonical_event_hash(
                    &self.head.hash,
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
                let prev_hash = std::mem::replace(&mut self.head, next).hash;
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

impl Store {
    /// Appends an event that goes with no other change (a failed authentication, an issued
    /// kubeconfig).
    pub async fn append_audit(
        &self,
        request_id: Option<&str>,
        actor: &Actor,
        details: &Details,
    ) -> Result<AuditEvent> {
        let request_id = request_id.map(str::to_owned);
        let event = Prepared::new(actor, details)?;
        self.write(move |tx| tx.append(request_id.as_deref(), event))
            .await
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
