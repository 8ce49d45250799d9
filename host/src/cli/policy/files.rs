//! Reading the JSON files the policy commands take (formats in `docs/policy-files.md`).

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::cli::{Error, Result};
use crate::domain::{AccessRequest, Identity};
use crate::policy::cases;

/// Reads and parses a JSON file into `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })
}

/// A request file: who asks and what for.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFile {
    /// Who asks.
    pub identity: Value,
    /// What for; `id` and `requested_at` may be omitted.
    pub request: Value,
}

/// Turns the JSON of an identity and a request into domain types, filling a missing request
/// `id` with `cli` and a missing `requested_at` with now. `path` names the file in errors.
pub fn parse_request(
    path: &Path,
    identity: Value,
    request: Value,
) -> Result<(Identity, AccessRequest)> {
    cases::parse_input(identity, request).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })
}
