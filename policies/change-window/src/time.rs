//! The time types of the settings: days, clock times, UTC offsets and instants, each parsed
//! from its text form when the settings are read.

use alloc::format;
use alloc::string::String;
use core::fmt;

use wicket_sdk::jiff::Timestamp;
use wicket_sdk::serde::Deserialize;

/// A day of the week: `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(crate = "wicket_sdk::serde", rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    /// The day of the week of day number `days` since 1970-01-01 (a Thursday).
    pub fn of_epoch_day(days: i64) -> Day {
        // `rem_euclid(7)` is in 0..7.
        Day::ALL[usize::try_from((days + 3).rem_euclid(7)).unwrap_or(0)]
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Day::Mon => "Mon",
            Day::Tue => "Tue",
            Day::Wed => "Wed",
            Day::Thu => "Thu",
            Day::Fri => "Fri",
            Day::Sat => "Sat",
            Day::Sun => "Sun",
        })
    }
}

/// A time of day, `HH:MM` from `00:00` to `24:00`, as minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(crate = "wicket_sdk::serde", try_from = "String")]
pub struct ClockTime(pub u32);

impl TryFrom<String> for ClockTime {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a time of day `HH:MM`");
        let (hours, minutes) = text.split_once(':').ok_or_else(bad)?;
        if hours.len() != 2 || minutes.len() != 2 {
            return Err(bad());
        }
        let hours: u32 = hours.parse().map_err(|_| bad())?;
        let minutes: u32 = minutes.parse().map_err(|_| bad())?;
        if minutes > 59 || hours > 24 || (hours == 24 && minutes != 0) {
            return Err(bad());
        }
        Ok(Self(hours * 60 + minutes))
    }
}

/// A fixed UTC offset, `+HH:MM`, `-HH:MM` or `Z`, in seconds east of UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(crate = "wicket_sdk::serde", try_from = "String")]
pub struct UtcOffset(pub i64);

impl TryFrom<String> for UtcOffset {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text == "Z" {
            return Ok(Self(0));
        }
        let bad = || format!("`{text}` is not a UTC offset `+HH:MM`, `-HH:MM` or `Z`");
        let sign = match text.as_bytes().first() {
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(bad()),
        };
        let clock = ClockTime::try_from(String::from(&text[1..])).map_err(|_| bad())?;
        if clock.0 > 18 * 60 {
            return Err(format!(
                "`{text}` is beyond the largest UTC offset, 18 hours"
            ));
        }
        Ok(Self(sign * i64::from(clock.0) * 60))
    }
}

impl fmt::Display for UtcOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        let minutes = self.0.unsigned_abs() / 60;
        write!(f, "UTC{sign}{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

/// A point in time written in RFC 3339 with a UTC offset, e.g. `2026-12-20T00:00:00+01:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(crate = "wicket_sdk::serde", try_from = "String")]
pub struct Instant(pub Timestamp);

impl TryFrom<String> for Instant {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
            .map(Self)
            .map_err(|e| format!("`{text}` is not an RFC 3339 time with a UTC offset: {e}"))
    }
}
