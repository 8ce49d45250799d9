//! The audit log: append-only, hash-chained events stored with the state they describe.
//!
//! Each event carries `prev_hash` (the previous event's hash) and `hash =
//! sha256(prev_hash || canonical JSON of {seq, time, kind, request_id, actor, details})`, so
//! changing, removing or reordering any stored event breaks the chain at that event, which
//! [`verify`] finds and names. Events are appended by the [`Store`] inside the
//! transaction of the change they record. Their details are a typed enum ([`Details`]) and
//! every string in them passes through [`chain::redact_text`] as they are written
//! (`canonical.rs`), so no token or kubeconfig can be written to the log.
//!
//! The chain shows that the stored log is whole up to its newest event; removing events
//! from the *end* is only visible against a head hash recorded elsewhere, which is why
//! [`VerifyReport::head`] reports it.

pub(crate) mod canonical;
pub mod chain;
mod event;
mod verify;

use std::io::Write;

pub use event::{Actor, AuditEvent, AuthenticationFailures, Details, RevocationScope};
pub use verify::{Break, BrokenLink, VerifyReport, verify};

use crate::store::{self, Store};

/// Why an audit operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The export could not be written.
    #[error("cannot write audit export: {0}")]
    Write(#[source] std::io::Error),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Rows read from the store per round trip.
const PAGE: u32 = 1000;

/// Writes every event, oldest first, as one JSON object per line; returns how many.
pub async fn export(store: &dyn Store, mut out: impl Write) -> Result<u64> {
    let mut after = 0;
    let mut count = 0;
    loop {
        let events = store.audit_events(after, PAGE).await?;
        let Some(last) = events.last() else {
            break;
        };
        after = last.seq;
        for event in &events {
            let line =
                serde_json::to_string(event).map_err(|e| Error::Write(std::io::Error::other(e)))?;
            writeln!(out, "{line}").map_err(Error::Write)?;
            count += 1;
        }
    }
    out.flush().map_err(Error::Write)?;
    Ok(count)
}

#[cfg(test)]
mod tests;
