//! Reading the JSON files the policy commands take (formats in `docs/policy-files.md`).

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::cli::{Error, Result};
use crate::domain::{AccessRequest, Identity};
use crate::policy::cases::RequestFile;

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

/// Reads a request file: who asks and what for, the request in its own form or as the REST
/// API's body, its `id` `cli` and its `requested_at` now unless the file gives them.
pub fn read_request(path: &Path) -> Result<(Identity, AccessRequest)> {
    let file: RequestFile = read_json(path)?;
    file.complete(jiff::Timestamp::now())
        .map_err(|error| Error::Invalid(format!("`{}`: `request`: {error}", path.display())))
}
