//! Real kubectl, bound to one kubeconfig and a private discovery cache.

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The `kubectl` on `PATH`, if any.
pub fn binary() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("kubectl"))
        .find(|path| path.is_file())
}

/// The outcome of one kubectl run.
#[derive(Debug)]
pub struct Outcome {
    /// Whether it exited 0.
    pub success: bool,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// kubectl with one kubeconfig file.
#[derive(Debug, Clone)]
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
}

impl Kubectl {
    /// Writes `kubeconfig` to `dir/<name>.kubeconfig` and uses it with a cache in `dir`.
    pub fn new(dir: &Path, name: &str, kubeconfig: &str) -> Self {
        let bin = binary().expect("kubectl on PATH (the end-to-end tests need real kubectl)");
        let path = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(&path, kubeconfig).expect("write a kubeconfig");
        Self {
            bin,
            kubeconfig: path,
            cache: dir.join(format!("{name}-kubectl-cache")),
        }
    }

    /// Runs kubectl with `args`.
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
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}
