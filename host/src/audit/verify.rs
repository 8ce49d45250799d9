//! Recomputing the chain and naming its first broken link.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use super::chain::{self, GENESIS_HASH, Hashed};
use super::{Details, PAGE, Result};
use crate::store::Store;

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Events checked (up to and including the broken one, if any).
    pub events: u64,
    /// The hash of the newest event when the chain is whole; record it elsewhere to also
    /// detect events removed from the end later.
    pub head: Option<String>,
    /// The first broken link, if any.
    pub broken: Option<BrokenLink>,
}

impl VerifyReport {
    /// Whether every event is in place and unchanged.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// One line for `wicket audit verify`: `audit chain intact: 42 events, head 3f…` or
/// `audit chain broken: event 7: was modified (…)`.
impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.broken, &self.head) {
            (Some(broken), _) => write!(f, "audit chain broken: {broken}"),
            (None, Some(head)) => {
                write!(f, "audit chain intact: {} events, head {head}", self.events)
            }
            (None, None) => f.write_str("audit chain intact: no events yet"),
        }
    }
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// The sequence number of the first event that does not check out.
    pub seq: i64,
    /// Why.
    pub reason: Break,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {}: {}", self.seq, self.reason)
    }
}

/// Why an event does not check out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Break {
    /// The event is missing: the next stored event has a later number.
    Missing {
        /// The number of the event stored in its place.
        found: i64,
    },
    /// The event's `prev_hash` is not the previous event's hash (removed or reordered events).
    NotLinked,
    /// The event's content no longer matches its hash (modified).
    Modified,
    /// The event cannot be read as an audit event.
    Unreadable {
        /// What is wrong with it.
        detail: String,
    },
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { found } => {
                write!(f, "missing (the next stored event is {found})")
            }
            Self::NotLinked => f.write_str(
                "does not follow the previous event (its prev_hash differs: events were removed or reordered)",
            ),
            Self::Modified => f.write_str("was modified (its content does not match its hash)"),
            Self::Unreadable { detail } => write!(f, "is unreadable: {detail}"),
        }
    }
}

/// Recomputes the whole audit chain from the first event and reports the first broken link.
/// A broken chain is a report, not an error; errors are failures to read the store.
pub async fn verify(store: &dyn Store) -> Result<VerifyReport> {
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut events = 0;
    loop {
        let rows = store.raw_audit_rows(expected_seq - 1, PAGE).await?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            events += 1;
            let broken = |reason| {
                Ok(VerifyReport {
                    events,
                    head: None,
                    broken: Some(BrokenLink {
                        seq: expected_seq,
                        reason,
                    }),
                })
            };
            if row.seq != expected_seq {
                return broken(Break::Missing { found: row.seq });
            }
            if row.prev_hash != prev_hash {
                return broken(Break::NotLinked);
            }
            let recomputed = match recompute(&row) {
                Ok(hash) => hash,
                Err(detail) => return broken(Break::Unreadable { detail }),
            };
            if recomputed != row.hash {
                return broken(Break::Modified);
            }
            prev_hash = row.hash;
            expected_seq += 1;
        }
    }
    Ok(VerifyReport {
        events,
        head: (events > 0).then_some(prev_hash),
        broken: None,
    })
}

/// The hash the row should carry, or why it cannot be computed.
fn recompute(row: &crate::store::RawAuditRow) -> Result<String, String> {
    let actor: serde_json::Value =
        serde_json::from_str(&row.actor).map_err(|e| format!("actor is not JSON: {e}"))?;
    let details: serde_json::Value =
        serde_json::from_str(&row.details).map_err(|e| format!("details are not JSON: {e}"))?;
    let typed: Details = serde_json::from_value(details.clone())
        .map_err(|e| format!("details are not a known event: {e}"))?;
    if typed.kind() != row.kind {
        return Err(format!(
            "kind `{}` does not match its details (`{}`)",
            row.kind,
            typed.kind()
        ));
    }
    let time = Timestamp::from_millisecond(row.time)
        .map_err(|_| format!("time `{}` is out of range", row.time))?;
    Ok(chain::event_hash(
        &row.prev_hash,
        Hashed {
            seq: row.seq,
            time,
            kind: &row.kind,
            request_id: row.request_id.as_deref(),
            actor: &actor,
            details: &details,
        },
    ))
}
