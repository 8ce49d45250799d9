//! `wicket dev --policy MODULE.wasm[=SETTINGS.json]`: a module of the user's own, added to the
//! dev chain after the shipped ones, with settings from a JSON file.

use std::path::PathBuf;

use serde_json::Value;
use toml_edit::{Array, InlineTable, Table};

use super::{Error, Result};

/// A module given with `--policy`, checked: its file exists and its settings are a JSON object
/// the configuration (TOML) can hold.
#[derive(Debug, Clone)]
pub struct ExtraPolicy {
    /// The module file, absolute.
    pub module: PathBuf,
    /// Its settings, as the configuration's `settings` table (empty without a settings file).
    pub settings: Table,
}

impl ExtraPolicy {
    /// Reads `arg` (`MODULE.wasm` or `MODULE.wasm=SETTINGS.json`, relative to the current
    /// directory): the module must be a file, the settings file a JSON object.
    pub fn parse(arg: &str) -> Result<Self> {
        let fail = |reason: String| Error::Policy {
            arg: arg.to_owned(),
            reason,
        };
        let (module, settings) = match arg.split_once('=') {
            Some((module, settings)) => (module, Some(settings)),
            None => (arg, None),
        };
        if module.is_empty() || settings.is_some_and(str::is_empty) {
            return Err(fail(
                "expected `MODULE.wasm` or `MODULE.wasm=SETTINGS.json`".to_owned(),
            ));
        }
        let module = std::fs::canonicalize(module)
            .ok()
            .filter(|path| path.is_file())
            .ok_or_else(|| fail(format!("no module file `{module}`")))?;
        let mut table = Table::new();
        if let Some(file) = settings {
            let text = std::fs::read_to_string(file)
                .map_err(|error| fail(format!("cannot read `{file}`: {error}")))?;
            let fields = match serde_json::from_str(&text) {
                Ok(Value::Object(fields)) => fields,
                Ok(_) => return Err(fail(format!("`{file}` is not a JSON object"))),
                Err(error) => return Err(fail(format!("`{file}` is not JSON: {error}"))),
            };
            for (key, field) in &fields {
                let field = toml(field, key).map_err(fail)?;
                table.insert(key, toml_edit::Item::Value(field));
            }
        }
        Ok(Self {
            module,
            settings: table,
        })
    }

    /// The chain entry's name: the module file's name without `.wasm`, characters a policy
    /// name cannot hold replaced with `-`.
    pub fn stem(&self) -> String {
        let stem = self
            .module
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if name.is_empty() {
            "policy".to_owned()
        } else {
            name
        }
    }
}

/// `value` at `path` (`a.b[2]`) as a TOML value; `Err` saying why TOML cannot hold it (a
/// `null`, an integer beyond 64-bit signed).
fn toml(value: &Value, path: &str) -> std::result::Result<toml_edit::Value, String> {
    Ok(match value {
        Value::Null => {
            return Err(format!(
                "settings `{path}` is null, which the configuration (TOML) cannot hold; leave \
                 the field out"
            ));
        }
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into(),
            (None, Some(f)) if !n.is_u64() => f.into(),
            _ => {
                return Err(format!(
                    "settings `{path}` is an integer larger than the configuration (TOML) can \
                     hold"
                ));
            }
        },
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => {
            let mut array = Array::new();
            for (i, item) in items.iter().enumerate() {
                array.push_formatted(toml(item, &format!("{path}[{i}]"))?);
            }
            array.fmt();
            toml_edit::Value::Array(array)
        }
        Value::Object(fields) => {
            let mut table = InlineTable::new();
            for (key, field) in fields {
                table.insert(key, toml(field, &format!("{path}.{key}"))?);
            }
            table.fmt();
            toml_edit::Value::InlineTable(table)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_module_and_its_settings() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("on call.wasm");
        std::fs::write(&module, b"\0asm").unwrap();
        let settings = dir.path().join("settings.json");
        std::fs::write(
            &settings,
            r#"{"group": "dev:sre", "max": [1, {"a": true}]}"#,
        )
        .unwrap();

        let bare = ExtraPolicy::parse(module.to_str().unwrap()).unwrap();
        assert_eq!(bare.module, std::fs::canonicalize(&module).unwrap());
        assert!(bare.settings.is_empty());
        assert_eq!(bare.stem(), "on-call");

        let arg = format!("{}={}", module.display(), settings.display());
        let with = ExtraPolicy::parse(&arg).unwrap();
        assert_eq!(with.settings["group"].as_str(), Some("dev:sre"));
        assert_eq!(
            with.settings.to_string(),
            "group = \"dev:sre\"\nmax = [1, { a = true }]\n"
        );
    }

    #[test]
    fn a_missing_file_or_bad_settings_is_one_line_naming_the_argument() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("mine.wasm");
        std::fs::write(&module, b"\0asm").unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            format!("{}={}", module.display(), path.display())
        };
        let cases = [
            ("missing.wasm".to_owned(), "no module file `missing.wasm`"),
            (format!("{}=", module.display()), "expected `MODULE.wasm`"),
            (
                format!("{}=absent.json", module.display()),
                "cannot read `absent.json`",
            ),
            (write("list.json", "[1]"), "is not a JSON object"),
            (
                write("broken.json", "{\"a\": }"),
                "is not JSON: expected value at line 1 column 7",
            ),
            (
                write("null.json", r#"{"a": {"b": [1, null]}}"#),
                "settings `a.b[1]` is null",
            ),
            (
                write("huge.json", r#"{"n": 18446744073709551615}"#),
                "settings `n` is an integer larger than",
            ),
        ];
        for (arg, expected) in cases {
            let line = ExtraPolicy::parse(&arg).unwrap_err().to_string();
            assert!(
                line.starts_with(&format!("`--policy` `{arg}`: ")) && line.contains(expected),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
    }
}
