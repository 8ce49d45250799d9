//! `<data>/wicket.toml`, the configuration `wicket dev` runs. Written from the template at a
//! start unless the user edited it since the last start: an edited file is kept, and only
//! what changes at every start is updated in it (`listen`, the `dev` issuer's secret, the `dev`
//! cluster's `server`, which is kube-sim's new port), at this start and every later one until the
//! file is deleted. Whether it was edited is told by the SHA-256 of the text last written, kept in
//! [`STATE_FILE`] beside it. Modules given with `--policy` are
//! appended to the `dev` cluster's chain, after the modules already there, and removed again
//! at the next start (they are added for one run; edit the file to keep one).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml_edit::{DocumentMut, Item, Table, value};

use super::extra::ExtraPolicy;
use super::{CLUSTER, Error, ISSUER_ALIAS, Result, write_private};
use crate::private_fs;

/// The configuration file's name in the data directory.
pub const CONFIG_FILE: &str = "wicket.toml";
/// What `wicket dev` last wrote to [`CONFIG_FILE`], to tell an edited file from its own.
pub const STATE_FILE: &str = "wicket.toml.state";

const TEMPLATE: &str = include_str!("wicket-dev.toml");

/// What changes from one start to the next.
#[derive(Debug)]
pub struct StartValues<'a> {
    /// `--listen`.
    pub listen: &'a str,
    /// The data directory.
    pub data: &'a Path,
    /// The dev issuer's signing secret.
    pub secret: &'a str,
    /// kube-sim's URL.
    pub server: &'a str,
}

/// The configuration as written.
#[derive(Debug)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// Whether the user's edited file was kept (otherwise it is the template's).
    pub kept_edits: bool,
    /// The names of the `--policy` modules in the `dev` chain, in their order.
    pub added: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// SHA-256 of the text last written, hex.
    sha256: String,
    /// Whether that text was the user's edited file (kept from then on, until deleted).
    edited: bool,
    /// The chain entries `--policy` added, removed again at the next start.
    added: Vec<String>,
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Writes `<data>/wicket.toml` (the template, or the user's edited file with `values`
/// updated), with `extra` appended to the `dev` chain.
pub fn write(values: &StartValues<'_>, extra: &[ExtraPolicy]) -> Result<Written> {
    let path = values.data.join(CONFIG_FILE);
    let state_path = values.data.join(STATE_FILE);
    // A file that cannot be read as the user's own (a symbolic link planted there, say) is
    // replaced, never read through.
    let state = private_fs::read_owned(&state_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<State>(&bytes).ok());
    let existing = private_fs::read_owned(&path)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let edited = match (&state, &existing) {
        (Some(state), Some(text)) => state.edited || sha256(text) != state.sha256,
        _ => false,
    };
    let mut doc = match existing.filter(|_| edited) {
        Some(text) => {
            let mut doc = text.parse::<DocumentMut>().map_err(|error| Error::Edited {
                path: path.clone(),
                reason: error
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            })?;
            let previous = state.map(|state| state.added).unwrap_or_default();
            if let Some(chain) = dev_chain(&mut doc) {
                chain.retain(|entry| {
                    !previous
                        .iter()
                        .any(|name| Some(name.as_str()) == name_of(entry))
                });
            }
            update(&mut doc, values);
            doc
        }
        None => template(values)
            .parse::<DocumentMut>()
            .expect("the template is TOML"),
    };
    let added = append(&mut doc, extra)?;
    let text = doc.to_string();
    write_private(&path, &text)?;
    let state = State {
        sha256: sha256(&text),
        edited,
        added: added.clone(),
    };
    let state = serde_json::to_string(&state).expect("the state serialises");
    write_private(&state_path, &state)?;
    Ok(Written {
        path,
        text,
        kept_edits: edited,
        added,
    })
}

fn template(values: &StartValues<'_>) -> String {
    TEMPLATE
        .replace("{listen}", values.listen)
        .replace("{data}", &values.data.display().to_string())
        .replace("{secret}", values.secret)
        .replace("{server}", values.server)
}

fn name_of(table: &Table) -> Option<&str> {
    table.get("name").and_then(Item::as_str)
}

/// The table of `[[array]]` in `doc` whose `key` is `name`.
fn entry<'a>(
    doc: &'a mut DocumentMut,
    array: &str,
    key: &str,
    name: &str,
) -> Option<&'a mut Table> {
    doc.get_mut(array)?
        .as_array_of_tables_mut()?
        .iter_mut()
        .find(|table| table.get(key).and_then(Item::as_str) == Some(name))
}

/// The `dev` cluster's chain, if the file has that cluster and it has a chain.
fn dev_chain(doc: &mut DocumentMut) -> Option<&mut toml_edit::ArrayOfTables> {
    entry(doc, "clusters", "name", CLUSTER)?
        .get_mut("policies")?
        .as_array_of_tables_mut()
}

/// Sets what changes at every start in the user's file, where it is there to set.
fn update(doc: &mut DocumentMut, values: &StartValues<'_>) {
    doc["listen"] = value(values.listen);
    if let Some(issuer) = entry(doc, "issuers", "alias", ISSUER_ALIAS) {
        issuer["hs256_secret"] = value(values.secret);
    }
    if let Some(cluster) = entry(doc, "clusters", "name", CLUSTER) {
        cluster["server"] = value(values.server);
    }
}

/// Appends `extra` to the `dev` chain; their names (the module file's stem, `-2`... when taken).
fn append(doc: &mut DocumentMut, extra: &[ExtraPolicy]) -> Result<Vec<String>> {
    if extra.is_empty() {
        return Ok(Vec::new());
    }
    let Some(cluster) = entry(doc, "clusters", "name", CLUSTER) else {
        return Err(Error::NoDevCluster);
    };
    let chain = cluster
        .entry("policies")
        .or_insert_with(|| Item::ArrayOfTables(toml_edit::ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or(Error::NoDevCluster)?;
    let mut added = Vec::new();
    for policy in extra {
        let stem = policy.stem();
        let taken = |name: &str| chain.iter().any(|entry| name_of(entry) == Some(name));
        let name = std::iter::once(stem.clone())
            .chain((2..).map(|n| format!("{stem}-{n}")))
            .find(|name| !taken(name))
            .expect("an unbounded sequence of names has a free one");
        let mut table = Table::new();
        table["name"] = value(&name);
        table["module"] = value(policy.module.display().to_string());
        if !policy.settings.is_empty() {
            table["settings"] = Item::Table(policy.settings.clone());
        }
        table.decor_mut().set_prefix(
            "\n# Added by `wicket dev --policy` for this run: gone at the next start without it.\n",
        );
        chain.push(table);
        added.push(name);
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn values<'a>(data: &'a Path, listen: &'a str, server: &'a str) -> StartValues<'a> {
        StartValues {
            listen,
            data,
            secret: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            server,
        }
    }

    fn extra(dir: &Path, file: &str) -> ExtraPolicy {
        let module = dir.join(file);
        std::fs::write(&module, b"\0asm").unwrap();
        let settings = dir.join(format!("{file}.json"));
        std::fs::write(&settings, r#"{"group": "dev:oncall", "ttl": {"max": 600}}"#).unwrap();
        ExtraPolicy::parse(&format!("{}={}", module.display(), settings.display())).unwrap()
    }

    fn chain(written: &Written, data: &Path) -> Vec<String> {
        let config = Config::parse(&written.text, "wicket.toml", data).unwrap();
        let dev = config.clusters.iter().find(|c| c.name == CLUSTER).unwrap();
        dev.policies.iter().map(|p| p.name.clone()).collect()
    }

    #[test]
    fn an_unedited_file_is_regenerated_and_an_edited_one_kept_with_the_start_values() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let first = write(&values(data, "127.0.0.1:8080", "https://127.0.0.1:1"), &[]).unwrap();
        assert!(!first.kept_edits);
        let again = write(&values(data, "127.0.0.1:9090", "https://127.0.0.1:2"), &[]).unwrap();
        assert!(!again.kept_edits, "not edited: generated again");
        assert!(again.text.contains("listen = \"127.0.0.1:9090\""));

        let edited = again.text.replace(
            "outside_max_ttl_seconds = 900",
            "# mine\noutside_max_ttl_seconds = 60",
        );
        std::fs::write(&again.path, &edited).unwrap();
        let kept = write(&values(data, "127.0.0.1:7070", "https://127.0.0.1:3"), &[]).unwrap();
        assert!(kept.kept_edits);
        assert!(
            kept.text.contains("# mine\noutside_max_ttl_seconds = 60"),
            "{}",
            kept.text
        );
        assert!(
            kept.text.contains("listen = \"127.0.0.1:7070\""),
            "{}",
            kept.text
        );
        assert!(
            kept.text.contains("server = \"https://127.0.0.1:3\""),
            "{}",
            kept.text
        );
        assert!(!kept.text.contains("127.0.0.1:2"), "{}", kept.text);
        assert_eq!(std::fs::read_to_string(&kept.path).unwrap(), kept.text);
        // Kept again the next time: what was written is the user's edited file.
        let still = write(&values(data, "127.0.0.1:7070", "https://127.0.0.1:4"), &[]).unwrap();
        assert!(still.kept_edits);
        assert!(still.text.contains("# mine"));
    }

    #[test]
    fn policy_modules_join_the_dev_chain_for_one_start() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let start = values(data, "127.0.0.1:8080", "https://127.0.0.1:1");
        let added = [extra(data, "on-call.wasm"), extra(data, "groups.wasm")];
        let written = write(&start, &added).unwrap();
        assert_eq!(written.added, ["on-call", "groups-2"]);
        assert_eq!(
            chain(&written, data),
            ["groups", "window", "tickets", "on-call", "groups-2"]
        );
        let config = Config::parse(&written.text, "wicket.toml", data).unwrap();
        let on_call = &config.clusters[0].policies[3];
        assert_eq!(
            on_call.module,
            std::fs::canonicalize(data.join("on-call.wasm")).unwrap()
        );
        assert_eq!(
            serde_json::Value::Object(on_call.settings.clone()),
            serde_json::json!({"group": "dev:oncall", "ttl": {"max": 600}})
        );

        // Edited while they were in it: the edit stays, the modules go.
        let edited = written.text.replace(
            "outside_max_ttl_seconds = 900",
            "outside_max_ttl_seconds = 60",
        );
        std::fs::write(&written.path, &edited).unwrap();
        let next = write(&start, &[]).unwrap();
        assert!(next.kept_edits && next.text.contains("outside_max_ttl_seconds = 60"));
        assert_eq!(chain(&next, data), ["groups", "window", "tickets"]);

        // A second cluster after `dev` in the user's file: the module still joins `dev`'s chain.
        let two = format!(
            "{}\n[[clusters]]\nname = \"other\"\nkubeconfig = \"k\"\nserver = \"https://127.0.0.1:5\"\n[[clusters.policies]]\nname = \"x\"\nmodule = \"x.wasm\"\n",
            next.text
        );
        std::fs::write(&next.path, two).unwrap();
        let both = write(&start, &added[..1]).unwrap();
        let config = Config::parse(&both.text, "wicket.toml", data).unwrap();
        let names = |cluster: &str| -> Vec<String> {
            let cluster = config.clusters.iter().find(|c| c.name == cluster).unwrap();
            cluster.policies.iter().map(|p| p.name.clone()).collect()
        };
        assert_eq!(
            names("dev"),
            ["groups", "window", "tickets", "on-call"],
            "{}",
            both.text
        );
        assert_eq!(names("other"), ["x"]);
    }

    #[test]
    fn an_edited_file_that_is_not_toml_is_one_line_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let start = values(data, "127.0.0.1:8080", "https://127.0.0.1:1");
        let written = write(&start, &[]).unwrap();
        std::fs::write(&written.path, "listen = [\n").unwrap();
        let line = write(&start, &[]).unwrap_err().to_string();
        assert!(line.starts_with("your edited `"), "{line}");
        assert!(
            line.contains("delete it to get the generated one back"),
            "{line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }
}
