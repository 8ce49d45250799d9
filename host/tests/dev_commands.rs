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
    let bob = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    assert_eq!(bob.split('.').count(), 3, "{bob}");

    // The sample chain's `groups` entry is a gate: bob (developers) asking for payments is
    // denied by it alone, and the window and ticket rules are recorded as skipped.
    let wicket = script
        .lines()
        .find_map(|l| l.strip_prefix("export WICKET="))
        .expect("the printed commands export WICKET");
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "-H"])
            .arg(format!("Authorization: Bearer {bob}"))
            .args(args)
            .output()
            .expect("run curl");
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    let denied = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"30m","reason":"deploy"}"#,
        &format!("{wicket}/v1/requests"),
    ]);
    assert_eq!(denied["error"]["code"], "denied", "{denied}");
    let reason = denied["error"]["message"].as_str().unwrap();
    assert!(reason.starts_with("module `groups`:"), "{reason}");
    let decided: Vec<&str> = denied["error"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module"].as_str().unwrap())
        .collect();
    assert_eq!(decided, ["groups"], "{denied}");
    let id = denied["error"]["request_id"].as_str().unwrap();
    let shown = curl(&[&format!("{wicket}/v1/requests/{id}")]);
    let skipped: Vec<(&str, &str)> = shown["modules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| Some((m["module"].as_str()?, m["skipped_after"].as_str()?)))
        .collect();
    assert_eq!(
        skipped,
        [("window", "groups"), ("tickets", "groups")],
        "{shown}"
    );
}
