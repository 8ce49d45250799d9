//! The JSON forms that differ from the in-memory ones: claims and timestamps.

/// Claims: a JSON object of values in files, name → JSON text in memory.
pub(crate) mod claims {
    use alloc::collections::BTreeMap;
    use alloc::string::{String, ToString};

    use serde_alloc::ser::SerializeMap;
    use serde_alloc::{Deserialize, Deserializer, Serializer, de::Error as _, ser::Error as _};
    use serde_json_alloc::Value;

    pub(crate) fn serialize<S: Serializer>(
        claims: &BTreeMap<String, String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(claims.len()))?;
        for (name, json) in claims {
            let value: Value = serde_json_alloc::from_str(json)
                .map_err(|e| S::Error::custom(alloc::format!("claim `{name}`: {e}")))?;
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<BTreeMap<String, String>, D::Error> {
        let values = BTreeMap::<String, Value>::deserialize(deserializer)
            .map_err(|e| D::Error::custom(alloc::format!("claims: {e}")))?;
        Ok(values
            .into_iter()
            .map(|(name, value)| (name, value.to_string()))
            .collect())
    }
}

/// Timestamps: RFC 3339 text with a UTC offset, e.g. `2026-11-23T10:00:00Z`.
pub(crate) mod timestamp {
    use alloc::string::String;

    use jiff_alloc::Timestamp;
    use serde_alloc::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(crate) fn serialize<S: Serializer>(
        at: &Timestamp,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(at)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(|e| {
            D::Error::custom(alloc::format!(
                "`{text}` is not an RFC 3339 time with an offset: {e}"
            ))
        })
    }
}
