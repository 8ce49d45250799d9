//! Anchors: the head of the chain (`seq`, `hash`) with a MAC made with a key that is not in
//! the database, written to a sink outside it. Whoever can rewrite the database can re-hash
//! a rewritten chain, but cannot make an anchor for it without the key, and cannot take back
//! an anchor already written to an append-only sink.
//!
//! One anchor is one JSON line: `{"at":…,"hash":…,"installation":…,"mac":…,"seq":…}`, where
//! `mac` is the hex HMAC-SHA256, under the key, of `wicket audit anchor v1\n` followed by the
//! canonical JSON of the other four fields.

use std::path::Path;

use hmac::{Hmac, Mac as _};
use jiff::Timestamp;
use secrecy::{ExposeSecret as _, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::canonical::to_canonical_json_exact;

/// The fewest bytes a key may have.
pub const MIN_KEY_BYTES: usize = 32;

/// What the MAC input starts with, so that an anchor's MAC is never valid for anything else.
const DOMAIN: &[u8] = b"wicket audit anchor v1\n";

/// The key anchors are made and checked with. Its bytes are the key file's content less
/// surrounding whitespace (`openssl rand -hex 32` writes a good one).
#[derive(Debug, Clone)]
pub struct AnchorKey(SecretSlice<u8>);

/// Why a key is not used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file is missing, a symbolic link, or not the current user's alone.
    #[error("cannot use the audit key file: {0}")]
    File(#[source] crate::private_fs::Error),
    /// Too short to resist guessing.
    #[error("the audit key in `{path}` has {bytes} bytes; it needs at least {MIN_KEY_BYTES}")]
    Short {
        /// The key file.
        path: String,
        /// How many bytes it has.
        bytes: usize,
    },
}

impl AnchorKey {
    /// The key in `path`: a regular file (not a symbolic link) of the current user's that no
    /// other user may read or write, holding at least [`MIN_KEY_BYTES`] bytes.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let bytes = crate::private_fs::read_secret(path).map_err(KeyError::File)?;
        let key = bytes.trim_ascii();
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::Short {
                path: path.display().to_string(),
                bytes: key.len(),
            });
        }
        Ok(Self(SecretSlice::from(key.to_vec())))
    }

    /// A key of these bytes (at least [`MIN_KEY_BYTES`] of them, or `None`).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() >= MIN_KEY_BYTES).then(|| Self(SecretSlice::from(bytes.to_vec())))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .expect("hmac accepts keys of every length")
    }
}

/// The head of one installation's chain at a time, with its MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// The newest event's sequence number.
    pub seq: i64,
    /// The newest event's hash.
    pub hash: String,
    /// When the anchor was made.
    pub at: Timestamp,
    /// The installation whose chain it is (its database's id).
    pub installation: String,
    /// Hex HMAC-SHA256 of the other fields (see the module documentation).
    pub mac: String,
}

/// The fields an anchor's MAC covers, in canonical JSON.
#[derive(Serialize)]
struct Covered<'a> {
    seq: i64,
    hash: &'a str,
    at: Timestamp,
    installation: &'a str,
}

impl Anchor {
    /// An anchor of `installation`'s chain ending at event `seq` with `hash`, made now.
    pub fn new(key: &AnchorKey, installation: &str, seq: i64, hash: &str) -> Self {
        let at = Timestamp::from_millisecond(Timestamp::now().as_millisecond())
            .expect("the current time is a valid timestamp");
        let mac = hex::encode(
            mac_of(key, seq, hash, at, installation)
                .finalize()
                .into_bytes(),
        );
        Self {
            seq,
            hash: hash.to_owned(),
            at,
            installation: installation.to_owned(),
            mac,
        }
    }

    /// Whether the MAC is this key's for these fields (compared in constant time).
    pub fn is_authentic(&self, key: &AnchorKey) -> bool {
        let Ok(mac) = hex::decode(&self.mac) else {
            return false;
        };
        mac_of(key, self.seq, &self.hash, self.at, &self.installation)
            .verify_slice(&mac)
            .is_ok()
    }

    /// The anchor as one line of its sink, newline included.
    pub fn to_line(&self) -> String {
        let mut line = to_canonical_json_exact(self).expect("an anchor serializes");
        line.push('\n');
        line
    }
}

fn mac_of(
    key: &AnchorKey,
    seq: i64,
    hash: &str,
    at: Timestamp,
    installation: &str,
) -> Hmac<Sha256> {
    let covered = to_canonical_json_exact(&Covered {
        seq,
        hash,
        at,
        installation,
    })
    .expect("anchor fields serialize");
    let mut mac = key.mac();
    mac.update(DOMAIN);
    mac.update(covered.as_bytes());
    mac
}

/// An anchor and the line of its sink it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// The line (1-based; 0 when its place is not known, as for the exporter's last anchor,
    /// found in the sink's tail).
    pub line: usize,
    /// The anchor.
    pub anchor: Anchor,
}

/// An anchor line that does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BadAnchor {
    /// The line (1-based; 0 when the fault is not one line's).
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for BadAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => f.write_str(&self.reason),
            line => write!(f, "line {line}: {}", self.reason),
        }
    }
}

/// Where an anchor is, for a message: `anchor line 3`, or `its last anchor` (line 0).
pub(super) fn place(line: usize) -> String {
    match line {
        0 => "its last anchor".to_owned(),
        line => format!("anchor line {line}"),
    }
}

/// The anchors of one installation read from a sink, each checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Anchors {
    /// Its anchors, ordered by `seq` (then by line).
    pub anchors: Vec<Placed>,
    /// Lines of other installations sharing the sink (their MACs checked all the same).
    pub other_installations: usize,
    /// Lines that are not JSON at all, skipped: writes a crash cut short (the exporter ends
    /// such a line with a newline when it starts again). A line that is JSON but not an
    /// authentic anchor is never skipped.
    pub skipped: usize,
}

impl Anchors {
    /// Reads every line of a sink's `text`: each must be an anchor with a MAC made with
    /// `key`, else the first that is not is named. Only the anchors of `installation` are
    /// kept (`None`: every line must be of one installation, which is taken).
    pub fn read(
        text: &str,
        key: &AnchorKey,
        installation: Option<&str>,
    ) -> Result<Self, BadAnchor> {
        let mut read = Self::default();
        let mut installation = installation.map(str::to_owned);
        for (index, content) in text.lines().enumerate() {
            let line = index + 1;
            let bad = |reason: String| BadAnchor { line, reason };
            if content.trim().is_empty() {
                continue;
            }
            let Ok(json) = serde_json::from_str::<serde_json::Value>(content) else {
                read.skipped += 1;
                continue;
            };
            let anchor: Anchor = serde_json::from_value(json)
                .map_err(|error| bad(format!("not an anchor: {error}")))?;
            if !anchor.is_authentic(key) {
                return Err(bad(
                    "its mac does not match: forged, altered, or made with another key".to_owned(),
                ));
            }
            if anchor.seq < 1 {
                return Err(bad(format!("anchors no event (seq {})", anchor.seq)));
            }
            match &installation {
                Some(ours) if *ours != anchor.installation => {
                    read.other_installations += 1;
                    continue;
                }
                Some(_) => {}
                None => installation = Some(anchor.installation.clone()),
            }
            read.anchors.push(Placed { line, anchor });
        }
        read.anchors.sort_by_key(|placed| placed.anchor.seq);
        Ok(read)
    }

    /// The newest anchor (the highest `seq`).
    pub fn last(&self) -> Option<&Placed> {
        self.anchors.last()
    }
}
