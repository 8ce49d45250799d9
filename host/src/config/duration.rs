//! Durations in the configuration file, with the grammar of [`wicket_contract::duration`]
//! (`30s`, `5m`, `1h30m`, `1d`, ISO 8601 `PT30S`), the same as policy settings and the REST API.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Parses a positive duration such as `30s`, `5m`, `1h30m`, `1d` or `PT30S`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let duration = parse_zero_or_more(text)?;
    if duration.is_zero() {
        return Err(format!("duration `{text}` must be more than zero"));
    }
    Ok(duration)
}

/// Parses a duration that may be zero, such as a clock-skew leeway.
pub fn parse_zero_or_more(text: &str) -> Result<Duration, String> {
    wicket_contract::duration::parse(text).map_err(|e| e.to_string())
}

/// Deserializes a duration field with [`parse`].
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// Deserializes an optional duration field with [`parse`].
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|text| parse(&text).map_err(serde::de::Error::custom))
        .transpose()
}

/// Deserializes an optional duration field with [`parse_zero_or_more`].
pub fn deserialize_option_zero<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|text| parse_zero_or_more(&text).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::seconds("30s", Ok(Duration::from_secs(30)))]
    #[case::minutes("5m", Ok(Duration::from_secs(300)))]
    #[case::combined("1h 30m", Ok(Duration::from_secs(5400)))]
    #[case::compact("1h30m", Ok(Duration::from_secs(5400)))]
    #[case::day("1d", Ok(Duration::from_secs(86_400)))]
    #[case::iso("PT2S", Ok(Duration::from_secs(2)))]
    #[case::millis("250ms", Ok(Duration::from_millis(250)))]
    #[case::zero("0s", Err("duration `0s` must be more than zero".to_owned()))]
    #[case::negative("-5s", Err("duration `-5s` is negative".to_owned()))]
    #[case::words("soon", Err("`soon` is not a duration (write e.g. `90s`, `30m`, `1h30m` or `1d`)".to_owned()))]
    fn parses_durations(#[case] text: &str, #[case] expected: Result<Duration, String>) {
        assert_eq!(parse(text), expected);
    }
}
