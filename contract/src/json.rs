//! Times in JSON: RFC 3339 text with a UTC offset, e.g. `2026-11-23T10:00:00Z`.

use alloc::string::String;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Parses RFC 3339 `text` with an explanation that names it.
fn parse<E: serde::de::Error>(text: &str) -> Result<Timestamp, E> {
    text.parse().map_err(|e| {
        E::custom(alloc::format!(
            "`{text}` is not an RFC 3339 time with an offset: {e}"
        ))
    })
}

/// A time written as RFC 3339 text.
pub(crate) struct Rfc3339<'a>(pub(crate) &'a Timestamp);

impl Serialize for Rfc3339<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// `#[serde(with)]` for a [`Timestamp`] field.
pub(crate) mod timestamp {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        at: &Timestamp,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(at)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Timestamp, D::Error> {
        parse(&String::deserialize(deserializer)?)
    }
}

/// `#[serde(deserialize_with)]` for an optional [`Timestamp`] field (with `default`).
pub(crate) mod optional_timestamp {
    use super::*;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| parse(&text))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    #[test]
    fn a_time_without_offset_is_named() {
        let error = super::parse::<serde_json::Error>("2026-11-23T10:00:00").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`2026-11-23T10:00:00` is not an RFC 3339 time")
        );
    }
}
