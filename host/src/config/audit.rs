//! `[audit]`: anchoring the audit chain outside the database, and streaming its events.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration;

/// `[audit]`: the key anchors are made with and the sinks they and the events go to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The MAC key (at least 32 bytes): a file of the service's user that nobody else may
    /// read or write, kept out of the database and its backups.
    pub key_file: PathBuf,
    /// Where anchors are appended, one JSON line each (opened `O_APPEND`, never through a
    /// symbolic link).
    pub anchor_file: PathBuf,
    /// Time between two anchors (one is also written at shutdown); an anchor is written only
    /// when events were appended.
    #[serde(
        default = "default_interval",
        deserialize_with = "duration::deserialize"
    )]
    pub anchor_interval: Duration,
    /// Where every event is appended as a JSON line, as it is anchored, for a SIEM to read.
    #[serde(default)]
    pub events_file: Option<PathBuf>,
}

fn default_interval() -> Duration {
    Duration::from_secs(10)
}

impl AuditConfig {
    /// Its file paths, to resolve against the configuration's directory.
    pub(super) fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        [&mut self.key_file, &mut self.anchor_file]
            .into_iter()
            .chain(self.events_file.as_mut())
    }
}
