//! The `kube-sim` binary prints its URL and writes an admin kubeconfig that real kubectl uses;
//! bad flags exit with code 2.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::kubectl_binary;

#[test]
fn binary_serves_kubectl_with_the_written_kubeconfig() {
    let kubectl = kubectl_binary("1.32");
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = dir.path().join("admin.kubeconfig");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args(["--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kube-sim");
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut url)
        .expect("read url");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let out = Command::new(&kubectl)
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(["get", "namespaces", "-o", "name"])
        .output()
        .expect("run kubectl");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        [
            "namespace/default",
            "namespace/kube-node-lease",
            "namespace/kube-public",
            "namespace/kube-system"
        ]
    );
}

#[test]
fn bad_listen_address_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .args(["--listen", "not-an-address"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'not-an-address'"));
}
