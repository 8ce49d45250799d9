//! Durations as people write them, with one grammar everywhere Wicket reads one: policy
//! settings, the service's configuration and the REST API.
//!
//! The grammar is jiff's "friendly" format plus ISO 8601, with a day always 24 hours: `90s`,
//! `30m`, `1h30m`, `1h 30m`, `1d`, `1w` (7 days), `250ms`, `PT30S`, `P1D`. Months and years
//! are refused (their length depends on the date). A bare number is not a duration in text;
//! in JSON, an integer is a number of seconds.
//!
//! ```
//! use wicket_contract::Duration;
//!
//! assert_eq!("1h30m".parse::<Duration>().unwrap().as_secs(), 5400);
//! assert_eq!("1d".parse::<Duration>().unwrap().as_secs(), 86_400);
//! assert_eq!(Duration::from_secs(5400).to_string(), "1h30m");
//! ```

use alloc::string::{String, ToString};
use core::fmt;
use core::str::FromStr;

use jiff::{SignedDuration, Span, SpanRelativeTo};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Why a text is not a duration. The message names the text and shows the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not in the grammar at all.
    #[error("`{0}` is not a duration (write e.g. `90s`, `30m`, `1h30m` or `1d`)")]
    Syntax(String),
    /// Months or years, whose length depends on the date.
    #[error("duration `{0}` uses months or years (write days instead, e.g. `30d`)")]
    Calendar(String),
    /// Below zero.
    #[error("duration `{0}` is negative")]
    Negative(String),
    /// Too large to represent.
    #[error("duration `{0}` is out of range")]
    OutOfRange(String),
}

/// Result of parsing a duration.
pub type Result<T, E = DurationError> = core::result::Result<T, E>;

/// Parses `text` with the grammar of this module into a duration of zero or more.
pub fn parse(text: &str) -> Result<core::time::Duration> {
    let trimmed = text.trim();
    let signed = match trimmed.parse::<SignedDuration>() {
        Ok(signed) => signed,
        Err(_) => {
            let span: Span = trimmed
                .parse()
                .map_err(|_| DurationError::Syntax(text.to_string()))?;
            if span.get_years() != 0 || span.get_months() != 0 {
                return Err(DurationError::Calendar(text.to_string()));
            }
            span.to_duration(SpanRelativeTo::days_are_24_hours())
                .map_err(|_| DurationError::OutOfRange(text.to_string()))?
        }
    };
    if signed.is_negative() {
        return Err(DurationError::Negative(text.to_string()));
    }
    core::time::Duration::try_from(signed).map_err(|_| DurationError::OutOfRange(text.to_string()))
}

/// A duration of zero or more, written and read with the grammar of this module.
///
/// In JSON and TOML it is a string such as `"30m"`; in JSON an integer is also accepted as a
/// number of seconds. It prints in the shortest form of whole units (`1d2h`, `90ms`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(core::time::Duration);

impl Duration {
    /// No time at all.
    pub const ZERO: Self = Self(core::time::Duration::ZERO);

    /// `seconds` seconds.
    pub const fn from_secs(seconds: u64) -> Self {
        Self(core::time::Duration::from_secs(seconds))
    }

    /// Whole seconds, rounded down.
    pub const fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }

    /// Whether this is no time at all.
    pub const fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// The same span as a [`core::time::Duration`].
    pub const fn as_core(&self) -> core::time::Duration {
        self.0
    }
}

impl From<core::time::Duration> for Duration {
    fn from(duration: core::time::Duration) -> Self {
        Self(duration)
    }
}

impl From<Duration> for core::time::Duration {
    fn from(duration: Duration) -> Self {
        duration.0
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(text: &str) -> Result<Self> {
        parse(text).map(Self)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        let mut seconds = self.0.as_secs();
        for (unit, size) in UNITS {
            if seconds >= size {
                write!(f, "{}{unit}", seconds / size)?;
                seconds %= size;
            }
        }
        let nanos = self.0.subsec_nanos();
        match nanos {
            0 => Ok(()),
            _ if nanos.is_multiple_of(1_000_000) => write!(f, "{}ms", nanos / 1_000_000),
            _ if nanos.is_multiple_of(1_000) => write!(f, "{}us", nanos / 1_000),
            _ => write!(f, "{nanos}ns"),
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> core::result::Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `90s`, `30m`, `1h30m` or `1d`, or whole seconds")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> core::result::Result<Duration, E> {
                text.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, seconds: u64) -> core::result::Result<Duration, E> {
                Ok(Duration::from_secs(seconds))
            }

            fn visit_i64<E: de::Error>(self, seconds: i64) -> core::result::Result<Duration, E> {
                u64::try_from(seconds)
                    .map(Duration::from_secs)
                    .map_err(|_| E::custom(DurationError::Negative(seconds.to_string())))
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use core::time::Duration as Core;

    use super::*;

    #[test]
    fn reads_the_grammar() {
        for (text, expected) in [
            ("90s", Core::from_secs(90)),
            ("30m", Core::from_secs(1800)),
            ("1h30m", Core::from_secs(5400)),
            ("1h 30m", Core::from_secs(5400)),
            ("1d", Core::from_secs(86_400)),
            ("2d12h", Core::from_secs(216_000)),
            ("1w", Core::from_secs(604_800)),
            ("250ms", Core::from_millis(250)),
            ("PT30S", Core::from_secs(30)),
            ("P1D", Core::from_secs(86_400)),
            ("0s", Core::ZERO),
            (" 5m ", Core::from_secs(300)),
        ] {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        let syntax = |t: &str| Err(DurationError::Syntax(t.into()));
        assert_eq!(parse("soon"), syntax("soon"));
        assert_eq!(parse("30"), syntax("30"));
        assert_eq!(parse(""), syntax(""));
        assert_eq!(parse("1mo"), Err(DurationError::Calendar("1mo".into())));
        assert_eq!(parse("1y"), Err(DurationError::Calendar("1y".into())));
        assert_eq!(parse("-5s"), Err(DurationError::Negative("-5s".into())));
        assert_eq!(
            parse("soon").unwrap_err().to_string(),
            "`soon` is not a duration (write e.g. `90s`, `30m`, `1h30m` or `1d`)"
        );
    }

    #[test]
    fn prints_whole_units_and_reads_them_back() {
        for (seconds, text) in [(0, "0s"), (90, "1m30s"), (5400, "1h30m"), (93_600, "1d2h")] {
            let duration = Duration::from_secs(seconds);
            assert_eq!(duration.to_string(), text);
            assert_eq!(text.parse::<Duration>(), Ok(duration));
        }
        let millis = Duration::from(Core::from_millis(1250));
        assert_eq!(millis.to_string(), "1s250ms");
        assert_eq!(millis.to_string().parse::<Duration>(), Ok(millis));
    }

    #[test]
    fn json_takes_text_or_whole_seconds() {
        let read = |json: &str| serde_json::from_str::<Duration>(json).map_err(|e| e.to_string());
        assert_eq!(read(r#""1d""#), Ok(Duration::from_secs(86_400)));
        assert_eq!(read("600"), Ok(Duration::from_secs(600)));
        assert!(read("-1").unwrap_err().contains("negative"));
        assert!(
            read(r#""forever""#)
                .unwrap_err()
                .contains("`forever` is not a duration")
        );
        assert!(read("true").unwrap_err().contains("a duration such as"));
        assert_eq!(
            serde_json::to_string(&Duration::from_secs(5400)).unwrap(),
            r#""1h30m""#
        );
    }
}
