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

/// Reads a settings file: its own text, checked to be JSON. The module receives that text as
/// it is (not re-serialised), so a position in its error is one in the file.
pub fn read_settings(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str::<serde::de::IgnoredAny>(&text).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_file_is_read_as_written_and_checked_to_be_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let text = "{\n  \"allow\" : [ ]\n}\n";
        std::fs::write(&path, text).unwrap();
        assert_eq!(read_settings(&path).unwrap(), text, "not re-serialised");
        std::fs::write(&path, "{\n  \"allow\": [\n}\n").unwrap();
        let Error::Json { source, .. } = read_settings(&path).unwrap_err() else {
            panic!("a JSON error");
        };
        assert_eq!((source.line(), source.column()), (3, 1), "{source}");
    }
}
