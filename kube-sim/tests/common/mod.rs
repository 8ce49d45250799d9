//! Helpers shared by the integration tests: locating real kubectl binaries and running them.

#![allow(dead_code)] // each test binary uses a different subset of the helpers

pub mod kube;

/// The kubectl binary for `1.NN`; every machine has 1.27–1.33, so a missing one fails the test.
pub fn kubectl_binary(version: &str) -> std::path::PathBuf {
    kube_sim::kubectl::binary(version).unwrap_or_else(|| {
        panic!("kubectl {version} is not installed (looked for kubectl.{version} beside the PATH kubectl)")
    })
}
