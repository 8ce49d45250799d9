//! Durations as people write them, with one grammar everywhere Wicket reads one: policy
//! settings, the service's configuration and the REST API.
//!
//! A duration is one or more `<number><unit>` parts, largest unit first, optionally separated
//! by spaces or commas: `90s`, `30m`, `1h30m`, `1h 30m`, `1d` (always 24 hours), `1w` (7 days),
//! `250ms`, `1.5h`. Units: `w`, `d`, `h`, `m`, `s`, `ms`, `us`/`µs`, `ns` and their English
//! names (`weeks`, `days`, `hours`/`hrs`, `minutes`/`mins`, `seconds`/`secs`, ...). ISO 8601
//! (`PT30S`, `P1DT2H`, `P2W`) is read too. Months and years are refused (their length depends
//! on the date). A bare number is not a duration in text; in JSON, an integer is a number of
//! seconds.
//!
//! The parser is written here rather than borrowed from a date library: this crate is linked
//! into every policy module, and a general calendar-span parser made each module ~290 KB bigger.
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

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// What went wrong inside the parser, before the text is attached.
enum Refusal {
    Syntax,
    Calendar,
    OutOfRange,
}

/// Parses `text` with the grammar of this module into a duration of zero or more.
pub fn parse(text: &str) -> Result<core::time::Duration> {
    let trimmed = text.trim();
    let (negative, body) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let nanos = if body.starts_with(['P', 'p']) {
        iso(&body[1..])
    } else {
        friendly(body)
    };
    let nanos = nanos.map_err(|refusal| match refusal {
        Refusal::Syntax => DurationError::Syntax(text.to_string()),
        Refusal::Calendar => DurationError::Calendar(text.to_string()),
        Refusal::OutOfRange => DurationError::OutOfRange(text.to_string()),
    })?;
    if negative && nanos != 0 {
        return Err(DurationError::Negative(text.to_string()));
    }
    let seconds = u64::try_from(nanos / NANOS_PER_SECOND)
        .map_err(|_| DurationError::OutOfRange(text.to_string()))?;
    // The remainder is below one second, so it fits.
    let rest = (nanos % NANOS_PER_SECOND) as u32;
    Ok(core::time::Duration::new(seconds, rest))
}

/// The length of one `unit` in nanoseconds; `Err(Calendar)` for months and years.
fn unit_nanos(unit: &str) -> core::result::Result<u128, Refusal> {
    const S: u128 = NANOS_PER_SECOND;
    Ok(match unit.to_ascii_lowercase().as_str() {
        "w" | "wk" | "wks" | "week" | "weeks" => 7 * 86_400 * S,
        "d" | "day" | "days" => 86_400 * S,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * S,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * S,
        "s" | "sec" | "secs" | "second" | "seconds" => S,
        "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1_000_000,
        "us" | "µs" | "usec" | "usecs" | "microsecond" | "microseconds" => 1_000,
        "ns" | "nsec" | "nsecs" | "nanosecond" | "nanoseconds" => 1,
        "mo" | "mos" | "month" | "months" | "y" | "yr" | "yrs" | "year" | "years" => {
            return Err(Refusal::Calendar);
        }
        _ => return Err(Refusal::Syntax),
    })
}

/// `count` (whole digits, then optional fraction digits) units of `size` nanoseconds.
fn amount(whole: &str, fraction: &str, size: u128) -> core::result::Result<u128, Refusal> {
    let whole: u128 = whole.parse().map_err(|_| Refusal::OutOfRange)?;
    let mut nanos = whole.checked_mul(size).ok_or(Refusal::OutOfRange)?;
    let mut scale = size;
    for digit in fraction.bytes() {
        scale /= 10;
        nanos = nanos
            .checked_add(u128::from(digit - b'0') * scale)
            .ok_or(Refusal::OutOfRange)?;
    }
    Ok(nanos)
}

/// Splits a leading number (`12`, `1.5`) off `text`: (whole digits, fraction digits, rest).
fn number(text: &str) -> core::result::Result<(&str, &str, &str), Refusal> {
    let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let end = digits(text);
    if end == 0 {
        return Err(Refusal::Syntax);
    }
    let (whole, rest) = text.split_at(end);
    match rest.strip_prefix(['.', ',']) {
        Some(after) if after.starts_with(|c: char| c.is_ascii_digit()) => {
            let end = digits(after);
            Ok((whole, &after[..end], &after[end..]))
        }
        _ => Ok((whole, "", rest)),
    }
}

/// `1h30m`, `1h 30m`, `2 days, 3 hours`: parts largest unit first.
fn friendly(text: &str) -> core::result::Result<u128, Refusal> {
    let mut rest = text;
    let mut total: u128 = 0;
    let mut last_size = u128::MAX;
    let mut parts = 0;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            break;
        }
        let (whole, fraction, after) = number(rest)?;
        let after = after.trim_start();
        let end = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let size = unit_nanos(&after[..end])?;
        if size >= last_size {
            return Err(Refusal::Syntax);
        }
        last_size = size;
        total = total
            .checked_add(amount(whole, fraction, size)?)
            .ok_or(Refusal::OutOfRange)?;
        parts += 1;
        rest = &after[end..];
    }
    if parts == 0 {
        return Err(Refusal::Syntax);
    }
    Ok(total)
}

/// ISO 8601 after the `P`: `[nY][nM][nW][nD][T[nH][nM][nS]]`, case-insensitive.
fn iso(text: &str) -> core::result::Result<u128, Refusal> {
    const S: u128 = NANOS_PER_SECOND;
    let upper = text.to_ascii_uppercase();
    let (date, time) = match upper.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date.to_string(), Some(time.to_string())),
        Some(_) => return Err(Refusal::Syntax),
        None => (upper, None),
    };
    let mut total: u128 = 0;
    let mut parts = 0;
    for (section, designators) in [
        (
            Some(date),
            &[('Y', 0), ('M', 0), ('W', 7 * 86_400 * S), ('D', 86_400 * S)][..],
        ),
        (time, &[('H', 3_600 * S), ('M', 60 * S), ('S', S)][..]),
    ] {
        let Some(section) = section else { continue };
        let mut rest = section.as_str();
        let mut next = 0;
        while !rest.is_empty() {
            let (whole, fraction, after) = number(rest)?;
            let designator = after.chars().next().ok_or(Refusal::Syntax)?;
            let position = designators[next..]
                .iter()
                .position(|(d, _)| *d == designator)
                .ok_or(Refusal::Syntax)?;
            let (_, size) = designators[next + position];
            if size == 0 {
                return Err(Refusal::Calendar);
            }
            total = total
                .checked_add(amount(whole, fraction, size)?)
                .ok_or(Refusal::OutOfRange)?;
            next += position + 1;
            parts += 1;
            rest = &after[designator.len_utf8()..];
        }
    }
    if parts == 0 {
        return Err(Refusal::Syntax);
    }
    Ok(total)
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
            ("1.5h", Core::from_secs(5400)),
            ("2 days, 3 hours", Core::from_secs(183_600)),
            ("1 hour 30 minutes", Core::from_secs(5400)),
            ("10us", Core::from_micros(10)),
            ("P1DT2H", Core::from_secs(93_600)),
            ("PT1.5S", Core::from_millis(1500)),
            ("p2w", Core::from_secs(1_209_600)),
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
        assert_eq!(parse("P1M"), Err(DurationError::Calendar("P1M".into())));
        for text in ["30m1h", "1h1h", "h", "1x", "P", "PT", "P1H", "1.h", "--1s"] {
            assert_eq!(parse(text), syntax(text), "{text}");
        }
        let huge = "99999999999999999999999999999w";
        assert_eq!(parse(huge), Err(DurationError::OutOfRange(huge.into())));
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
