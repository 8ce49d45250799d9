//! Real kubectl driven against a simulator (or any API server), for tests: finds the installed
//! binaries and runs one bound to a kubeconfig and a private discovery cache.
//!
//! A test helper: it panics, with a message, where a test cannot go on (a kubeconfig that
//! cannot be written, a binary that cannot be started, a failed [`Kubectl::ok`]).
//!
//! On these machines `kubectl` on `PATH` is 1.32 (a version dispatcher); `kubectl.1.NN` for the
//! other versions sit beside the file it resolves to.

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The version `kubectl` on `PATH` runs.
pub const PATH_VERSION: &str = "1.32";

/// The `kubectl` on `PATH`, if any.
pub fn on_path() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("kubectl"))
        .find(|path| path.is_file())
}

/// The kubectl binary for `version` (`1.NN`): the `PATH` one for [`PATH_VERSION`],
/// `kubectl.1.NN` beside the file it resolves to otherwise.
pub fn binary(version: &str) -> Option<PathBuf> {
    let on_path = on_path()?;
    if version == PATH_VERSION {
        return Some(on_path);
    }
    let resolved = std::fs::canonicalize(&on_path).ok()?;
    let candidate = resolved.parent()?.join(format!("kubectl.{version}"));
    candidate.is_file().then_some(candidate)
}

/// The outcome of one kubectl run.
#[derive(Debug)]
pub struct Outcome {
    /// Whether it exited 0.
    pub success: bool,
    /// Its exit code (`None` when a signal ended it).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// kubectl bound to one kubeconfig file and a private discovery cache (so that discovery
/// caches never leak between tests).
#[derive(Debug, Clone)]
pub struct Kubectl {
    /// The binary.
    pub bin: PathBuf,
    /// The kubeconfig it uses.
    pub kubeconfig: PathBuf,
    /// Its discovery cache directory.
    pub cache: PathBuf,
}

impl Kubectl {
    /// Writes `kubeconfig` to `dir/<name>.kubeconfig` and runs `bin` with it and a cache
    /// directory `dir/<name>-cache`.
    pub fn new(bin: &Path, dir: &Path, name: &str, kubeconfig: &str) -> Self {
        let path = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(&path, kubeconfig)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        Self {
            bin: bin.to_owned(),
            kubeconfig: path,
            cache: dir.join(format!("{name}-cache")),
        }
    }

    /// Runs kubectl with `args` (and no `KUBECONFIG` from the environment).
    pub async fn run(&self, args: &[&str]) -> Outcome {
        let out = tokio::process::Command::new(&self.bin)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(&self.cache)
            .args(args)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.bin.display()));
        Outcome {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs kubectl with `args`, asserts that it succeeded and returns its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(out.success, "kubectl {args:?} failed: {}", out.stderr);
        out.stdout
    }

    /// Runs every line of a `kubectl auth can-i` table and asserts every answer. A line is
    /// `name verb resource namespace|- yes|no` (`-` asks across all namespaces); blank lines
    /// and `#` comments are skipped. The exit code must follow the answer (0 for yes). The
    /// panic lists every line that answered otherwise.
    pub async fn check_can_i(&self, table: &str) {
        let mut mismatches = Vec::new();
        for line in table
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let [name, verb, resource, namespace, expected] = cols[..] else {
                mismatches.push(format!(
                    "`{line}`: not `name verb resource namespace yes|no`"
                ));
                continue;
            };
            let mut args = vec!["auth", "can-i", verb, resource];
            if namespace == "-" {
                args.push("--all-namespaces");
            } else {
                args.extend(["-n", namespace]);
            }
            let out = self.run(&args).await;
            let answer = out.stdout.trim();
            if answer != expected {
                mismatches.push(format!(
                    "`{name}`: expected {expected}, got {answer} ({})",
                    out.stderr.trim()
                ));
            } else if out.success != (expected == "yes") {
                // kubectl exits 0 for yes and 1 for no; scripts rely on it.
                mismatches.push(format!(
                    "`{name}`: answered {answer} but exited {:?}",
                    out.code
                ));
            }
        }
        assert!(
            mismatches.is_empty(),
            "kubectl auth can-i answered otherwise:\n{}",
            mismatches.join("\n")
        );
    }
}
