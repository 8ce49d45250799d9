//! The trait a policy implements.

use alloc::format;
use alloc::string::{String, ToString};

use serde_alloc::de::DeserializeOwned;

use crate::{AccessRequest, Decision, Identity};

/// An access policy: typed settings, their validation, and the decision.
///
/// The host passes the module's settings as JSON text; the SDK parses them into
/// [`Policy::Settings`] with serde and checks them with [`Policy::validate`] when the module
/// is loaded (an error rejects the module), and again before a decision whose settings text is
/// not the one it last accepted (an error is a deny: a policy fails closed). The host starts
/// decisions from a snapshot taken after the module accepted its settings, so what
/// deserializing builds (a compiled pattern, a lookup table) is built once per chain entry.
///
/// Settings errors name the field at fault and start with `invalid settings: `, which the SDK
/// adds: neither a type's error nor [`Policy::validate`]'s message should (one that does is
/// not prefixed twice). With the settings below, `{"group": "corp:sre", "max_ttl": "1y"}` is
/// rejected with ``invalid settings: max_ttl: duration `1y` uses months or years (...)``.
///
/// ```
/// use wicket_sdk::serde::Deserialize;
/// use wicket_sdk::{AccessRequest, Decision, Duration, Grant, Identity, Policy};
///
/// /// Allows members of one group, for at most `max_ttl`.
/// pub struct OneGroup;
///
/// #[derive(Deserialize)]
/// #[serde(crate = "wicket_sdk::serde", deny_unknown_fields)]
/// pub struct Settings {
///     group: String,
///     /// `"90m"`, `"1h"`, `"1d"`, or a number of seconds.
///     #[serde(default = "default_max_ttl")]
///     max_ttl: Duration,
/// }
///
/// fn default_max_ttl() -> Duration {
///     Duration::from_secs(3600)
/// }
///
/// impl Policy for OneGroup {
///     type Settings = Settings;
///
///     fn validate(settings: &Settings) -> Result<(), String> {
///         if settings.max_ttl.as_secs() == 0 {
///             return Err("`max_ttl` must be at least one second".into());
///         }
///         Ok(())
///     }
///
///     fn evaluate(settings: &Settings, identity: &Identity, request: &AccessRequest) -> Decision {
///         if !identity.in_group(&settings.group) {
///             return Decision::deny(format!("only members of `{}` may ask", settings.group));
///         }
///         Decision::allow(Grant::from_request(request).cap_ttl(settings.max_ttl.as_secs()))
///     }
/// }
///
/// wicket_sdk::export_policy!(OneGroup);
/// # fn main() {
/// # use wicket_sdk::{testing, Access};
/// # let request = AccessRequest::new("prod", Access::role("view"), 7200).with_namespace("web");
/// # assert!(testing::validate::<OneGroup>(r#"{"group": "corp:sre", "max_ttl": "1y"}"#).unwrap_err().starts_with("invalid settings: max_ttl: duration `1y` uses months"));
/// # let decision = testing::evaluate::<OneGroup>(r#"{"group": "corp:sre"}"#, &Identity::new("a", "i").with_group("corp:sre"), &request);
/// # assert!(matches!(decision, Decision::Allow { ref grant } if grant.ttl_seconds == 3600));
/// # }
/// ```
pub trait Policy {
    /// The settings, parsed from the module's JSON settings.
    type Settings: DeserializeOwned;

    /// Checks parsed settings beyond what their type says; the error, after
    /// `invalid settings: ` (added by the SDK), is what the host shows: name the field, e.g.
    /// ``allow[0]: `groups` is empty``. The default accepts every settings value that parses.
    fn validate(settings: &Self::Settings) -> Result<(), String> {
        let _ = settings;
        Ok(())
    }

    /// Decides one access request. Must not panic: a panic traps, which the host turns into a
    /// deny with a diagnostic, never into an allow.
    fn evaluate(
        settings: &Self::Settings,
        identity: &Identity,
        request: &AccessRequest,
    ) -> Decision;
}

/// What every settings error starts with. The SDK adds it; a policy's own message never needs
/// to (one that does is not prefixed twice).
pub(crate) const SETTINGS_ERROR_PREFIX: &str = "invalid settings: ";

/// Parses and validates settings JSON the way the host's `validate-settings` call does. Errors
/// start with [`SETTINGS_ERROR_PREFIX`] once, then the path of the field at fault, if any
/// (`invalid settings: allow[0].max_ttl: ...`).
pub(crate) fn settings<P: Policy>(json: &str) -> Result<P::Settings, String> {
    let settings: P::Settings = parse_settings(json)?;
    P::validate(&settings).map_err(|e| invalid(&e))?;
    Ok(settings)
}

/// Deserializes settings JSON into `T`, with the errors of [`settings`].
pub(crate) fn parse_settings<T: DeserializeOwned>(json: &str) -> Result<T, String> {
    parse(json).map_err(|e| invalid(&e))
}

/// Deserializes `json`, naming the path of the value at fault in an error. A type error has
/// no line and column: the host may have written the JSON itself (from a TOML table), so a
/// position would point into text nobody wrote; the path says where it is in any form. A
/// syntax error keeps its position, which is then one in the text given (e.g. a settings
/// file, passed as it is).
fn parse<T: DeserializeOwned>(json: &str) -> Result<T, String> {
    let mut deserializer = serde_json_alloc::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = path(error.path());
        let message = message(error.inner());
        if path.is_empty() {
            message
        } else {
            format!("{path}: {}", strip_prefix(&message))
        }
    })?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// `path` as `allow[0].max_ttl`; empty at the top. A segment serde cannot name (inside a
/// value that was not read yet) is left out.
fn path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;

    let mut text = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !text.is_empty() {
                    text.push('.');
                }
                text.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    text
}

/// The message of `error`, without the position of a type error (see [`parse`]).
fn message(error: &serde_json_alloc::Error) -> String {
    let text = error.to_string();
    if !error.is_data() {
        return text;
    }
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(message) => message.into(),
        None => text,
    }
}

/// `message` with [`SETTINGS_ERROR_PREFIX`] in front, exactly once.
fn invalid(message: &str) -> String {
    format!("{SETTINGS_ERROR_PREFIX}{}", strip_prefix(message))
}

/// `message` without any leading `invalid settings:` of its own.
fn strip_prefix(mut message: &str) -> &str {
    let bare = SETTINGS_ERROR_PREFIX.trim_end();
    while let Some(rest) = message
        .get(..bare.len())
        .filter(|start| start.eq_ignore_ascii_case(bare))
        .map(|_| message[bare.len()..].trim_start())
    {
        message = rest;
    }
    message
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use rstest::rstest;
    use serde_alloc::Deserialize;
    use serde_alloc::de::Error as _;

    use super::*;
    use crate::{Decision, Duration, testing};

    #[derive(Debug, Deserialize)]
    #[serde(crate = "serde_alloc", deny_unknown_fields)]
    struct Settings {
        allow: Vec<Entry>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(crate = "serde_alloc", deny_unknown_fields)]
    #[allow(dead_code)] // read for their errors only
    struct Entry {
        group: String,
        #[serde(default)]
        max_ttl: Option<Duration>,
        #[serde(default)]
        note: Option<Note>,
    }

    /// A value whose own error starts with the prefix, as a policy written to the old guide's
    /// letter would.
    #[derive(Debug)]
    struct Note;

    impl<'de> Deserialize<'de> for Note {
        fn deserialize<D: serde_alloc::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let _ = String::deserialize(d)?;
            Err(D::Error::custom("invalid settings: notes are not allowed"))
        }
    }

    /// Follows the old guide: "start the message with `invalid settings: `".
    struct OldGuide;

    impl Policy for OldGuide {
        type Settings = Settings;

        fn validate(settings: &Settings) -> Result<(), String> {
            match settings.allow.iter().position(|e| e.group.is_empty()) {
                Some(i) => Err(format!("invalid settings: `allow[{i}]`: `group` is empty")),
                None => Ok(()),
            }
        }

        fn evaluate(_: &Settings, _: &Identity, request: &AccessRequest) -> Decision {
            Decision::allow_as_requested(request)
        }
    }

    #[rstest]
    // The host writes a TOML table as compact JSON: a position would point into that text.
    #[case::wrong_type(
        r#"{"allow":[{"group":"a"},{"group":"b","max_ttl":true}]}"#,
        "invalid settings: allow[1].max_ttl: invalid type: boolean `true`, expected a duration such as"
    )]
    #[case::bad_duration(
        r#"{"allow":[{"group":"a","max_ttl":"1y"}]}"#,
        "invalid settings: allow[0].max_ttl: duration `1y` uses months or years"
    )]
    #[case::unknown_field(
        r#"{"allow":[{"group":"a","groups":["b"]}]}"#,
        "invalid settings: allow[0].groups: unknown field `groups`, expected one of"
    )]
    #[case::missing_field(
        r#"{"allow":[{}]}"#,
        "invalid settings: allow[0]: missing field `group`"
    )]
    #[case::at_the_top(r#"{}"#, "invalid settings: missing field `allow`")]
    fn a_type_error_names_the_field_and_no_position(#[case] json: &str, #[case] wanted: &str) {
        let error = testing::validate::<OldGuide>(json).unwrap_err();
        assert!(error.starts_with(wanted), "{error}");
        assert!(
            !error.contains("line") && !error.contains("column"),
            "{error}"
        );
    }

    #[test]
    fn a_syntax_error_gives_the_position_in_the_text_as_given() {
        let file = "{\n  \"allow\": [\n    {\"group\": \"a\"}\n    {\"group\": \"b\"}\n  ]\n}\n";
        let error = testing::validate::<OldGuide>(file).unwrap_err();
        assert_eq!(
            error,
            "invalid settings: allow: expected `,` or `]` at line 4 column 5"
        );
        let error = testing::validate::<OldGuide>("{\"allow\": []} x").unwrap_err();
        assert_eq!(
            error,
            "invalid settings: trailing characters at line 1 column 15"
        );
    }

    #[rstest]
    #[case::from_validate(
        r#"{"allow":[{"group":""}]}"#,
        "invalid settings: `allow[0]`: `group` is empty"
    )]
    #[case::from_a_type(
        r#"{"allow":[{"group":"a","note":"x"}]}"#,
        "invalid settings: allow[0].note: notes are not allowed"
    )]
    fn the_prefix_is_written_once_even_by_a_policy_that_writes_it_too(
        #[case] json: &str,
        #[case] wanted: &str,
    ) {
        assert_eq!(testing::validate::<OldGuide>(json).unwrap_err(), wanted);
        let request = AccessRequest::new("prod", crate::Access::role("view"), 60);
        let Decision::Deny { reason } =
            testing::evaluate::<OldGuide>(json, &Identity::new("a", "i"), &request)
        else {
            panic!("invalid settings deny");
        };
        assert_eq!(reason, wanted);
    }

    #[rstest]
    #[case("invalid settings: x", "invalid settings: x")]
    #[case("Invalid settings:   invalid settings: x", "invalid settings: x")]
    #[case("x: invalid settings: y", "invalid settings: x: invalid settings: y")]
    #[case("invalid settingsx", "invalid settings: invalid settingsx")]
    fn one_prefix(#[case] message: &str, #[case] wanted: &str) {
        assert_eq!(invalid(message), wanted);
    }

    #[rstest]
    #[case(r#""1d""#, 86_400)]
    #[case(r#""1h30m""#, 5_400)]
    #[case("900", 900)]
    fn durations_in_settings(#[case] json: &str, #[case] seconds: u64) {
        let ttl: Duration = parse_settings(json).unwrap();
        assert_eq!(ttl.as_secs(), seconds);
    }
}
