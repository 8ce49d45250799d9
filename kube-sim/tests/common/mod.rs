//! Helpers shared by the integration tests: locating real kubectl binaries and running them.

#![allow(dead_code)] // each test binary uses a different subset of the helpers

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The kubectl binary for `1.NN`: the PATH `kubectl` for 1.32, `kubectl.1.NN` beside it otherwise.
pub fn kubectl_binary(version: &str) -> Option<PathBuf> {
    let on_path = which("kubectl")?;
    let resolved = std::fs::canonicalize(&on_path).ok()?;
    let dir = resolved.parent()?;
    let candidate = if version == "1.32" {
        on_path
    } else {
        dir.join(format!("kubectl.{version}"))
    };
    candidate.is_file().then_some(candidate)
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The outcome of one kubectl invocation.
#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// kubectl bound to one kubeconfig and a private discovery cache.
#[derive(Debug, Clone)]
pub struct Kubectl {
    pub bin: PathBuf,
    pub kubeconfig: PathBuf,
    pub cache: PathBuf,
}

impl Kubectl {
    pub fn new(bin: &Path, dir: &Path, name: &str, kubeconfig_text: &str) -> Self {
        let kubeconfig = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(&kubeconfig, kubeconfig_text).expect("write kubeconfig");
        Self {
            bin: bin.to_owned(),
            kubeconfig,
            cache: dir.join(format!("{name}-cache")),
        }
    }

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
            .expect("run kubectl");
        Outcome {
            success: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts success, returning stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args).await;
        assert!(o.success, "kubectl {args:?} failed: {}", o.stderr);
        o.stdout
    }
}
