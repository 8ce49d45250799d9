//! `wicket dev` prints commands that work as printed: this test starts it, reads what it
//! prints, and runs those lines with bash, curl and real kubectl.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

#[test]
fn the_printed_curl_and_kubectl_commands_work_as_printed() {
    assert!(
        on_path("kubectl") && on_path("curl") && on_path("bash"),
        "needs kubectl, curl and bash on PATH"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_wicket"))
            .args(["dev", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .env("WICKET_CACHE_DIR", dir.path().join("cache"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start wicket dev"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut script = Vec::new();
    let mut in_commands = false;
    loop {
        let line = printed
            .recv_timeout(Duration::from_secs(300))
            .expect("wicket dev prints its commands");
        if line.starts_with("# A token for") {
            in_commands = true;
        }
        if line == "# (end of commands)" {
            break;
        }
        if in_commands {
            script.push(line);
        }
    }
    assert!(
        script.iter().any(|l| l.starts_with("kubectl ")),
        "{script:?}"
    );
    let script = script.join("\n");
    let run = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("KUBECACHEDIR", dir.path().join("kubectl-cache"))
        .output()
        .expect("run the printed commands");
    let out = String::from_utf8_lossy(&run.stdout);
    let err = String::from_utf8_lossy(&run.stderr);
    let kubeconfig = std::fs::read_to_string(data.join("alice.kubeconfig"))
        .expect("the printed curl wrote the kubeconfig");
    assert!(kubeconfig.contains("current-context"), "{kubeconfig}");
    assert!(
        err.contains("No resources found in payments namespace"),
        "get pods -n payments works:\n{out}\n{err}"
    );
    assert!(
        out.lines().any(|l| l.trim() == "no"),
        "can-i in kube-system is no:\n{out}\n{err}"
    );
    assert!(
        out.contains("\"state\":\"revoked\""),
        "the printed revoke works:\n{out}\n{err}"
    );
    let token = Command::new(env!("CARGO_BIN_EXE_wicket"))
        .args([
            "dev",
            "token",
            "--sub",
            "bob",
            "--group",
            "developers",
            "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&token.stdout)
            .trim()
            .split('.')
            .count(),
        3
    );
}
