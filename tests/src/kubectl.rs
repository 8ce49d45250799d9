//! Real kubectl (the one on `PATH`), bound to one kubeconfig and a private discovery cache.

use std::path::Path;

pub use kube_sim::kubectl::{Kubectl, Outcome};

/// kubectl from `PATH` with `kubeconfig` written to `dir/<name>.kubeconfig`.
pub fn on_path(dir: &Path, name: &str, kubeconfig: &str) -> Kubectl {
    let bin = kube_sim::kubectl::on_path()
        .expect("kubectl on PATH (the end-to-end tests need real kubectl)");
    Kubectl::new(&bin, dir, name, kubeconfig)
}
