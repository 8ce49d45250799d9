//! Recomputing the chain over its rows, checking it against its anchors, and naming the first
//! event where either breaks. Rows come from whoever holds them (the store, an archive file):
//! this file reads nothing itself.

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

use super::anchor::{Anchor, Placed, place};
use super::canonical::to_canonical_json_exact;
use super::chain::{self, Canonical, GENESIS_HASH};
use super::{AuditEvent, Details};

/// An audit row exactly as stored: verification must name rows it cannot even read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    /// Position in the log.
    pub seq: i64,
    /// Unix milliseconds.
    pub time: i64,
    /// The event kind.
    pub kind: String,
    /// The request it concerns.
    pub request_id: Option<String>,
    /// Who caused it, canonical JSON.
    pub actor: String,
    /// What happened, canonical JSON.
    pub details: String,
    /// The previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

impl StoredRow {
    /// The row an exported event was written from (its actor and details back in canonical
    /// JSON, which is what was stored).
    pub fn from_event(event: &AuditEvent) -> Result<Self, serde_json::Error> {
        Ok(Self {
            seq: event.seq,
            time: event.time.as_millisecond(),
            kind: event.kind.clone(),
            request_id: event.request_id.clone(),
            actor: to_canonical_json_exact(&event.actor)?,
            details: to_canonical_json_exact(&event.details)?,
            prev_hash: event.prev_hash.clone(),
            hash: event.hash.clone(),
        })
    }

    /// The event it stores, as exported (`None` when its columns are not JSON or its time is
    /// out of range).
    pub fn to_event(&self) -> Option<AuditEvent> {
        Some(AuditEvent {
            seq: self.seq,
            time: Timestamp::from_millisecond(self.time).ok()?,
            kind: self.kind.clone(),
            request_id: self.request_id.clone(),
            actor: serde_json::from_str(&self.actor).ok()?,
            details: serde_json::from_str(&self.details).ok()?,
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        })
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Events checked (up to and including the broken one, if any).
    pub events: u64,
    /// The newest event's `seq` and hash when everything checks out.
    pub head: Option<(i64, String)>,
    /// Anchors given (each already found authentic).
    pub anchors: usize,
    /// The newest event an anchor vouches for, among those checked.
    pub anchored: Option<i64>,
    /// The first thing that does not check out, if any.
    pub broken: Option<Finding>,
}

impl VerifyReport {
    /// Whether every event is in place, unchanged and as anchored.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// One line for `wicket audit verify`.
impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(broken) = &self.broken {
            return write!(f, "audit chain broken: {broken}");
        }
        let Some((seq, hash)) = &self.head else {
            return f.write_str("audit chain intact: no events yet");
        };
        write!(
            f,
            "audit chain intact: {} events, head {seq} {hash}",
            self.events
        )?;
        match (self.anchors, self.anchored) {
            (0, _) => f.write_str(
                "; no anchors checked (the chain alone cannot show a rewrite: give the anchors and key)",
            ),
            (1, Some(anchored)) => write!(f, "; its anchor (event {anchored}) matches"),
            (n, Some(anchored)) => write!(f, "; {n} anchors match, the newest at event {anchored}"),
            (n, None) => write!(f, "; none of its {n} anchors is within these events"),
        }
    }
}

/// Where verification stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "at", rename_all = "snake_case")]
pub enum Finding {
    /// An event does not check out.
    Event {
        /// Its sequence number.
        seq: i64,
        /// The request it concerns, if it could be read.
        request_id: Option<String>,
        /// Why.
        reason: Break,
    },
    /// The chain ends before an anchored event: events were removed from its end.
    EndsBefore {
        /// The newest event present.
        last: i64,
        /// The anchored event that is missing.
        anchored: i64,
        /// The anchor's line in its sink.
        line: usize,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Event {
                seq,
                request_id,
                reason,
            } => {
                write!(f, "event {seq}")?;
                if let Some(id) = request_id {
                    write!(f, " (request `{id}`)")?;
                }
                write!(f, ": {reason}")
            }
            Self::EndsBefore {
                last,
                anchored,
                line,
            } => write!(
                f,
                "the chain ends at event {last}, before anchored event {anchored} ({}): events \
                 were removed from its end",
                place(*line)
            ),
        }
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
    /// Nothing vouches for the event: it comes after the last anchor of an archive.
    Unanchored,
    /// The event is whole and linked, but not the one exported with its `seq` (an export the
    /// anchors vouch for): the chain was rewritten from this event on.
    NotExported,
    /// The event is whole and linked, but its hash is not the one anchored for it: the chain
    /// was rewritten (and re-hashed) at or before it.
    NotAnchored {
        /// The anchor's line in its sink.
        line: usize,
        /// The newest earlier event an anchor vouches for: the rewrite is after it.
        since: Option<i64>,
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
            Self::NotExported => f.write_str(
                "differs from the event exported with its number (which the anchors vouch for): \
                 the chain was rewritten from this event on",
            ),
            Self::Unanchored => f.write_str(
                "comes after the last anchor: nothing vouches for it or for the events after it",
            ),
            Self::NotAnchored { line, since } => {
                write!(
                    f,
                    "differs from the hash anchored for it ({}): the chain was rewritten",
                    place(*line)
                )?;
                match since {
                    Some(since) => write!(f, " after event {since}, the newest earlier anchored one"),
                    None => f.write_str(" at or before it (no earlier anchor)"),
                }
            }
        }
    }
}

/// Checks rows one at a time, in `seq` order, against the chain and the anchors.
#[derive(Debug, Clone)]
pub struct Verifier {
    next_seq: i64,
    prev_hash: String,
    events: u64,
    /// Anchors not reached yet, the lowest `seq` last.
    pending: Vec<Placed>,
    anchors: usize,
    anchored: Option<i64>,
    broken: Option<Finding>,
    /// Hashes of events exported to the events sink that the anchors vouch for, by `seq`.
    exported: BTreeMap<i64, String>,
}

impl Verifier {
    /// Checks a chain from its first event against `anchors` (each already found authentic).
    pub fn new(anchors: Vec<Placed>) -> Self {
        Self::starting(0, GENESIS_HASH.to_owned(), anchors)
    }

    /// Checks a chain that goes on after `start` (an authentic anchor) against `anchors`;
    /// anchors of events up to `start` are not checked.
    pub fn after(start: &Anchor, anchors: Vec<Placed>) -> Self {
        let mut verifier = Self::starting(start.seq, start.hash.clone(), anchors);
        verifier.anchored = Some(start.seq);
        verifier
    }

    fn starting(last: i64, prev_hash: String, mut anchors: Vec<Placed>) -> Self {
        anchors.retain(|placed| placed.anchor.seq > last);
        anchors.sort_by_key(|placed| std::cmp::Reverse(placed.anchor.seq));
        Self {
            next_seq: last + 1,
            prev_hash,
            events: 0,
            anchors: anchors.len(),
            pending: anchors,
            anchored: None,
            broken: None,
            exported: BTreeMap::new(),
        }
    }

    /// Also compares each row with the event exported for its `seq` (see [`exported`]), so
    /// that a rewrite is named at its very first event rather than at the next anchor.
    pub fn with_exported(mut self, exported: BTreeMap<i64, String>) -> Self {
        self.exported = exported;
        self
    }

    /// The `seq` of the last row checked (or of the start).
    pub fn last_seq(&self) -> i64 {
        self.next_seq - 1
    }

    /// The hash of the last row checked (or of the start).
    pub fn last_hash(&self) -> &str {
        &self.prev_hash
    }

    /// The first thing found not to check out, if any.
    pub fn broken(&self) -> Option<&Finding> {
        self.broken.as_ref()
    }

    /// Checks the next row; `false` once something does not check out (see [`Self::finish`]).
    pub fn push(&mut self, row: &StoredRow) -> bool {
        if self.broken.is_some() {
            return false;
        }
        self.events += 1;
        let reason = if row.seq != self.next_seq {
            Some(Break::Missing { found: row.seq })
        } else if row.prev_hash != self.prev_hash {
            Some(Break::NotLinked)
        } else {
            match recompute(row) {
                Err(detail) => Some(Break::Unreadable { detail }),
                Ok(hash) if hash != row.hash => Some(Break::Modified),
                Ok(_) => match self.exported.get(&row.seq) {
                    Some(exported) if *exported != row.hash => Some(Break::NotExported),
                    _ => self.against_anchors(row),
                },
            }
        };
        if let Some(reason) = reason {
            self.broken = Some(Finding::Event {
                seq: self.next_seq,
                request_id: (row.seq == self.next_seq)
                    .then(|| row.request_id.clone())
                    .flatten(),
                reason,
            });
            return false;
        }
        self.prev_hash.clone_from(&row.hash);
        self.next_seq += 1;
        true
    }

    /// Whether the anchors of `row`'s `seq` (if any) name its hash.
    fn against_anchors(&mut self, row: &StoredRow) -> Option<Break> {
        while let Some(next) = self.pending.last() {
            if next.anchor.seq != row.seq {
                break;
            }
            if next.anchor.hash != row.hash {
                return Some(Break::NotAnchored {
                    line: next.line,
                    since: self.anchored,
                });
            }
            self.anchored = Some(row.seq);
            self.pending.pop();
        }
        None
    }

    /// The outcome: the first break, else whether the chain reaches every anchor.
    pub fn finish(self) -> VerifyReport {
        let broken = self.broken.or_else(|| {
            self.pending.last().map(|next| Finding::EndsBefore {
                last: self.next_seq - 1,
                anchored: next.anchor.seq,
                line: next.line,
            })
        });
        let head =
            (broken.is_none() && self.next_seq > 1).then(|| (self.next_seq - 1, self.prev_hash));
        VerifyReport {
            events: self.events,
            head,
            anchors: self.anchors,
            anchored: self.anchored,
            broken,
        }
    }
}

/// The hash the row should carry, or why it cannot be computed. The hash covers the stored
/// canonical text itself, so any change to it shows.
fn recompute(row: &StoredRow) -> Result<String, String> {
    serde_json::from_str::<serde_json::Value>(&row.actor)
        .map_err(|e| format!("actor is not JSON: {e}"))?;
    let details: serde_json::Value =
        serde_json::from_str(&row.details).map_err(|e| format!("details are not JSON: {e}"))?;
    let typed: Details = serde_json::from_value(details)
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
    Ok(chain::canonical_event_hash(
        &row.prev_hash,
        Canonical {
            seq: row.seq,
            time,
            kind: &row.kind,
            request_id: row.request_id.as_deref(),
            actor: &row.actor,
            details: &row.details,
        },
    ))
}

/// The hashes of the exported events in `text` (the events sink: one JSON event per line)
/// that `anchors` vouch for: the exported chain is recomputed from its first event, and only
/// the events up to the newest anchor it matches are kept. Lines that are not events (a write
/// cut short) are skipped, and an event exported twice counts once (delivery is at least
/// once).
pub fn exported(text: &str, anchors: &[Placed]) -> BTreeMap<i64, String> {
    let mut rows: BTreeMap<i64, StoredRow> = BTreeMap::new();
    for line in text.lines() {
        let Ok(event) = serde_json::from_str::<AuditEvent>(line) else {
            continue;
        };
        if let Ok(row) = StoredRow::from_event(&event) {
            rows.entry(row.seq).or_insert(row);
        }
    }
    let mut verifier = Verifier::new(anchors.to_vec());
    for row in rows.values() {
        if !verifier.push(row) {
            break;
        }
    }
    let Some(vouched) = verifier.anchored else {
        return BTreeMap::new();
    };
    rows.into_iter()
        .take_while(|(seq, _)| *seq <= vouched)
        .map(|(seq, row)| (seq, row.hash))
        .collect()
}
