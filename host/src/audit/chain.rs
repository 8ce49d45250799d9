//! The hash chain: event hashes, and the redaction every event passes through before it is
//! hashed and stored.

use jiff::Timestamp;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What replaces a bearer token found in an event.
pub const REDACTED_TOKEN: &str = "[redacted token]";
/// What replaces a kubeconfig found in an event.
pub const REDACTED_KUBECONFIG: &str = "[redacted kubeconfig]";

/// Bytes written by serde_json and ASCII punctuation, which are always UTF-8.
pub(super) fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A string (escaped) or another scalar, as `serde_json` writes it, without an
/// intermediate `String`.
fn write_scalar<T: serde::Serialize + ?Sized>(scalar: &T, out: &mut Vec<u8>) {
    // Writing a scalar into a `Vec` cannot fail: no I/O, no map with non-string keys.
    let _ = serde_json::to_writer(&mut *out, scalar);
}

/// The fields of an event that its hash covers, its actor and details in canonical JSON (as
/// [`to_canonical_json`](super::canonical::to_canonical_json) writes them and the log stores
/// them).
#[derive(Debug, Clone, Copy)]
pub struct Canonical<'a> {
    /// Position in the log.
    pub seq: i64,
    /// Time of the event.
    pub time: Timestamp,
    /// Event kind.
    pub kind: &'a str,
    /// The request it concerns.
    pub request_id: Option<&'a str>,
    /// Who caused it, canonical JSON.
    pub actor: &'a str,
    /// What happened, canonical JSON.
    pub details: &'a str,
}

/// `sha256(prev_hash || canonical JSON of {actor, details, kind, request_id, seq, time})`,
/// hex-encoded: the keys in that sorted order, hashed piece by piece without building the
/// whole text.
pub fn canonical_event_hash(prev_hash: &str, event: Canonical<'_>) -> String {
    let text = |s: &str| {
        let mut out = Vec::with_capacity(s.len() + 2);
        write_scalar(s, &mut out);
        into_text(out)
    };
    let request_id = event.request_id.map_or_else(|| "null".to_owned(), text);
    let mut hasher = Sha256::new();
    for part in [
        prev_hash,
        "{\"actor\":",
        event.actor,
        ",\"details\":",
        event.details,
        ",\"kind\":",
        &text(event.kind),
        ",\"request_id\":",
        &request_id,
        ",\"seq\":",
        &event.seq.to_string(),
        ",\"time\":",
        &text(&event.time.to_string()),
        "}",
    ] {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The shortest text [`redact_text`] can change: a kubeconfig marker (`kind: Config`), a
/// JWT's three parts ([`looks_like_jwt`]) being at least 14 bytes.
const SHORTEST_REDACTED: usize = 12;

const KUBECONFIG_MARKERS: [&str; 6] = [
    "kind: Config",
    "\"kind\":\"Config\"",
    "\"kind\": \"Config\"",
    "client-key-data",
    "client-certificate-data",
    "certificate-authority-data",
];

/// `text` with every bearer token (a JWT, as ServiceAccount tokens are) replaced, or all of
/// it when it holds a kubeconfig; `None` when there is nothing to redact. Every string value
/// of an event passes through it. Typed details keep secrets out by construction; this
/// catches the free-text fields (reasons, context, error messages) a user or a cause fills.
pub fn redact_text(text: &str) -> Option<String> {
    // Most strings of an event (names, states, kinds) are shorter than anything redacted.
    if text.len() < SHORTEST_REDACTED {
        return None;
    }
    // Every marker contains `Config` or `-data`: two scans rule out most texts.
    let may_be_kubeconfig = text.contains("Config") || text.contains("-data");
    if may_be_kubeconfig
        && KUBECONFIG_MARKERS
            .iter()
            .any(|marker| text.contains(marker))
    {
        return Some(REDACTED_KUBECONFIG.to_owned());
    }
    if !text.contains("eyJ") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut rest = text;
    while let Some(start) = rest.find("eyJ") {
        let (before, candidate) = rest.split_at(start);
        out.push_str(before);
        let end = candidate
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=')))
            .unwrap_or(candidate.len());
        let word = &candidate[..end];
        if looks_like_jwt(word) {
            out.push_str(REDACTED_TOKEN);
            changed = true;
        } else {
            out.push_str(word);
        }
        // `word` starts with `eyJ`, so every round moves forward.
        rest = &candidate[end..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// A JWS compact serialization: a base64url JSON header (`eyJ`), a payload, and a
/// signature part (possibly empty, as with `alg: none`).
fn looks_like_jwt(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3 && parts[0].len() >= 10 && parts[1].len() >= 2
}
