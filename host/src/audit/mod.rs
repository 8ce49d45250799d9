//! The audit log as a library: events, the one canonical JSON writer, the hash chain, anchors
//! (the chain's head under a MAC) and verification over rows. It reads no database: rows
//! come through [`AuditRows`], which the store implements (the store uses this module, never
//! the reverse).
//!
//! Each event carries `prev_hash` (the previous event's hash) and `hash =
//! sha256(prev_hash || canonical JSON of {actor, details, kind, request_id, seq, time})`, so
//! changing, removing or reordering any stored event breaks the chain at that event. Whoever
//! can write the database can also re-hash what follows; [`anchor`]s, made with a key kept
//! outside the database and written to an append-only sink by the [`exporter`], are what
//! such a rewrite (or a removal from the end) cannot match. [`Verifier`] checks both and
//! names the first event where they diverge. Event details are a typed enum ([`Details`]) and
//! every string in them passes through [`chain::redact_text`] as they are written
//! (`canonical.rs`), so no token or kubeconfig can be written to the log.

pub mod anchor;
pub mod archive;
pub(crate) mod canonical;
pub mod chain;
mod event;
pub mod exporter;
mod sink;
mod verify;

use std::future::Future;
use std::io::Write;

pub use anchor::{Anchor, AnchorKey, Anchors, BadAnchor, Placed};
pub use event::{Actor, AuditEvent, AuthenticationFailures, Details, RevocationScope};
pub use verify::{Break, Finding, StoredRow, Verifier, VerifyReport, exported};

/// An error of whoever holds the rows.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Where the rows of a chain are kept (the store).
pub trait AuditRows: Send + Sync {
    /// Up to `limit` rows with `seq` greater than `after`, in `seq` order.
    fn rows_after(
        &self,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<StoredRow>, SourceError>> + Send;

    /// The `seq` of the first event at or after `time` (Unix milliseconds), if any.
    fn first_seq_since(
        &self,
        time: i64,
    ) -> impl Future<Output = Result<Option<i64>, SourceError>> + Send;
}

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rows could not be read.
    #[error("cannot read the audit log: {0}")]
    Source(#[source] SourceError),
    /// The export could not be written.
    #[error("cannot write audit export: {0}")]
    Write(#[source] std::io::Error),
    /// The archive was not written.
    #[error("cannot archive: {0}")]
    Archive(String),
    /// A sink file cannot be used.
    #[error("cannot use audit sink `{path}`: {reason}")]
    Sink {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Rows read per round trip.
pub const PAGE: u32 = 1000;

/// Recomputes the whole chain of `source` from its first event, checking it against
/// `anchors`, and reports the first break. A broken chain is a report, not an error; errors
/// are failures to read.
pub async fn verify(source: &impl AuditRows, anchors: Vec<Placed>) -> Result<VerifyReport> {
    verify_with(source, Verifier::new(anchors)).await
}

/// [`verify`] with a verifier set up by the caller (e.g. [`Verifier::with_exported`]).
pub async fn verify_with(source: &impl AuditRows, mut verifier: Verifier) -> Result<VerifyReport> {
    loop {
        let rows = source
            .rows_after(verifier.last_seq(), PAGE)
            .await
            .map_err(Error::Source)?;
        if rows.is_empty() || !rows.iter().all(|row| verifier.push(row)) {
            break;
        }
    }
    Ok(verifier.finish())
}

/// Where an export starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Events with this `seq` and later.
    Seq(i64),
    /// Events from the first one at or after this time.
    Time(jiff::Timestamp),
}

impl std::str::FromStr for Since {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(seq) = text.parse::<i64>() {
            return Ok(Self::Seq(seq));
        }
        text.parse::<jiff::Timestamp>()
            .map(Self::Time)
            .map_err(|_| format!("`{text}` is neither a sequence number nor an RFC 3339 time"))
    }
}

/// Writes the events from `since` on, oldest first, one canonical JSON object per line (the
/// event with its `seq`, `prev_hash` and `hash`, so a reader can check the chain); returns
/// how many.
pub async fn export(source: &impl AuditRows, since: Since, mut out: impl Write) -> Result<u64> {
    let first = match since {
        Since::Seq(seq) => Some(seq),
        Since::Time(time) => source
            .first_seq_since(time.as_millisecond())
            .await
            .map_err(Error::Source)?,
    };
    let mut count = 0;
    if let Some(first) = first {
        let mut after = first.saturating_sub(1).max(0);
        loop {
            let rows = source
                .rows_after(after, PAGE)
                .await
                .map_err(Error::Source)?;
            let Some(last) = rows.last() else {
                break;
            };
            after = last.seq;
            for row in &rows {
                out.write_all(export_line(row)?.as_bytes())
                    .map_err(Error::Write)?;
                count += 1;
            }
        }
    }
    out.flush().map_err(Error::Write)?;
    Ok(count)
}

/// One exported event: its canonical JSON and a newline.
pub fn export_line(row: &StoredRow) -> Result<String> {
    let event = row.to_event().ok_or_else(|| {
        Error::Write(std::io::Error::other(format!(
            "event {} cannot be read as an audit event",
            row.seq
        )))
    })?;
    let mut line = canonical::to_canonical_json_exact(&event)
        .map_err(|e| Error::Write(std::io::Error::other(e)))?;
    line.push('\n');
    Ok(line)
}

#[cfg(test)]
mod anchor_tests;
#[cfg(test)]
mod tests;
