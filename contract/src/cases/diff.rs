//! A line diff of two JSON values, pretty-printed: `-` lines only expected, `+` only actual.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;

use serde_json::Value;

/// The diff, each line indented by two spaces and marked with `-`, `+` or a space.
///
/// ```
/// use serde_json::json;
///
/// let diff = wicket_contract::cases::diff::render(&json!({"ttl": 60}), &json!({"ttl": 30}));
/// assert!(diff.contains("  -   \"ttl\": 60\n  +   \"ttl\": 30\n"), "{diff}");
/// ```
pub fn render(expected: &Value, actual: &Value) -> String {
    let expected = pretty(expected);
    let actual = pretty(actual);
    let (a, b): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    // Longest common subsequence table, from the ends.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::from("  --- expected\n  +++ actual\n");
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "    {}", a[i]);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            let _ = writeln!(out, "  + {}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "  - {}", a[i]);
            i += 1;
        }
    }
    out
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn marks_only_the_differing_lines() {
        let diff = render(
            &json!({"decision": "allow", "ttl": 60}),
            &json!({"decision": "deny", "ttl": 60}),
        );
        assert!(!diff.contains("  - {\n"), "{diff}");
        assert!(diff.contains("  -   \"decision\": \"allow\","), "{diff}");
        assert!(diff.contains("  +   \"decision\": \"deny\","), "{diff}");
        assert!(diff.contains("\n      \"ttl\": 60\n"), "{diff}");
    }
}
