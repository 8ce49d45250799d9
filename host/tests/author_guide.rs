//! The policy author guide (`docs/policy-author-guide.md`) works as written, for an author
//! without Wicket's repository: its code blocks run in order, with bash, in a temporary directory
//! outside the repository, with only the `wicket` binary on `PATH`.
//!
//! - a ```` ```sh ```` block is run;
//! - a block right after `<!-- file: <path> -->` is written to that path (relative to where the
//!   blocks before it `cd`-ed) before the next block runs;
//! - a block right after `<!-- not run: <why> -->` is shown only, and so is a ```` ```text ````
//!   block (output);
//! - any other block fails the test, so none is left out by accident.
//!
//! The build tools are the pinned ones in `target/tools` (`WICKET_TOOLS`, as in `policy_new.rs`);
//! Rust builds go to `target/policy-new`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository")
}

/// What to do with a code block.
#[derive(Debug, PartialEq)]
enum Block {
    Run(String),
    Write { path: String, text: String },
    Shown,
}

/// The code blocks of `markdown`, in order; an error names a block that says neither how it is
/// run nor that it is not.
fn blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().enumerate();
    let mut previous = "";
    while let Some((number, line)) = lines.next() {
        let Some(lang) = line.strip_prefix("```") else {
            if !line.trim().is_empty() {
                previous = line;
            }
            continue;
        };
        let mut text = String::new();
        for (_, line) in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            text.push_str(line);
            text.push('\n');
        }
        let marker = previous
            .strip_prefix("<!-- ")
            .and_then(|rest| rest.strip_suffix(" -->"));
        let block = match (marker, lang) {
            (Some(marker), _) if marker.starts_with("not run: ") => Block::Shown,
            (Some(marker), _) if marker.starts_with("file: ") => Block::Write {
                path: marker["file: ".len()..].to_owned(),
                text,
            },
            (None, "sh") => Block::Run(text),
            (None, "text") => Block::Shown,
            _ => {
                return Err(format!(
                    "line {}: a ```{lang} block without `<!-- file: ... -->` or `<!-- not run: ... -->`",
                    number + 1
                ));
            }
        };
        blocks.push(block);
        previous = "";
    }
    Ok(blocks)
}

/// One bash script doing what the blocks say, stopping at the first failure.
fn script(blocks: &[Block]) -> String {
    let mut script = String::from("set -euxo pipefail\n");
    for block in blocks {
        match block {
            Block::Run(text) => script.push_str(text),
            Block::Write { path, text } => {
                assert!(!text.contains("\nWICKET_GUIDE_EOF\n"));
                script.push_str(&format!(
                    "mkdir -p \"$(dirname '{path}')\"\ncat > '{path}' <<'WICKET_GUIDE_EOF'\n{text}WICKET_GUIDE_EOF\n"
                ));
            }
            Block::Shown => {}
        }
    }
    script
}

#[test]
fn every_block_says_how_it_is_used() {
    let markdown = "<!-- file: a.json -->\n```json\n{}\n```\n\n```sh\necho hi\n```\n\n\
                    <!-- not run: an excerpt -->\n```wit\nworld x {}\n```\n```text\nhi\n```\n";
    assert_eq!(
        blocks(markdown).unwrap(),
        [
            Block::Write {
                path: "a.json".into(),
                text: "{}\n".into()
            },
            Block::Run("echo hi\n".into()),
            Block::Shown,
            Block::Shown,
        ]
    );
    let error = blocks("text\n```rust\nfn main() {}\n```\n").unwrap_err();
    assert!(error.starts_with("line 2: a ```rust block"), "{error}");
}

#[test]
fn the_guide_runs_as_written_outside_the_repository() {
    let guide = std::fs::read_to_string(repo().join("docs/policy-author-guide.md")).expect("guide");
    let blocks =
        blocks(&guide).unwrap_or_else(|error| panic!("docs/policy-author-guide.md {error}"));
    let script = script(&blocks);
    for language in ["rust", "python", "javascript", "c"] {
        assert!(
            script.contains(&format!("--lang {language}\n")),
            "the guide creates no {language} project"
        );
    }

    let outside = tempfile::tempdir().expect("tempdir");
    assert!(!outside.path().starts_with(repo()));
    let wicket = Path::new(env!("CARGO_BIN_EXE_wicket"));
    let path = std::env::join_paths(
        std::iter::once(wicket.parent().expect("bin dir").to_owned()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .expect("PATH");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(outside.path())
        .env("PATH", path)
        .env("WICKET_CACHE_DIR", outside.path().join(".cache"))
        .env("WICKET_TOOLS", repo().join("target/tools"))
        .env("CARGO_TARGET_DIR", repo().join("target/policy-new"))
        .env("CARGO_INCREMENTAL", "0")
        .output()
        .expect("running bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The new project's table (6 cases), the walkthrough's (7), then the three other
    // languages' (6 each): all passed.
    assert!(!stdout.contains("FAIL "), "{stdout}");
    assert_eq!(
        stdout.matches("\n6 passed, 0 failed").count(),
        4,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("\n7 passed, 0 failed").count(),
        1,
        "{stdout}"
    );
}
