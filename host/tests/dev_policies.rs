//! `wicket dev --policy MODULE.wasm[=SETTINGS.json]` and edits of the dev configuration, through
//! the real binary: a module of one's own joins the `dev` chain for one run without touching
//! the generated file, the user's edits to `<data>/wicket.toml` survive restarts, and a module
//! that cannot be used is one line on stderr.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `wicket dev`: what it printed up to its commands' end, its API and alice's token.
struct Dev {
    _child: Child,
    printed: Vec<String>,
    api: String,
    token: String,
}

fn wicket(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wicket"));
    command
        .args(["dev", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.join("data"))
        .args(args)
        .env("WICKET_CACHE_DIR", dir.join("cache"));
    command
}

/// Starts `wicket dev` with `args` and waits until it printed its commands.
fn start(dir: &Path, args: &[&str]) -> Dev {
    let mut child = Child(
        wicket(dir, args)
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
    let mut all = Vec::new();
    loop {
        let line = printed
            .recv_timeout(Duration::from_secs(300))
            .unwrap_or_else(|_| panic!("wicket dev prints its commands; so far: {all:#?}"));
        if line == "# (end of commands)" {
            break;
        }
        all.push(line);
    }
    let find = |prefix: &str| {
        all.iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` in {all:#?}"))
            .to_owned()
    };
    Dev {
        api: find("export WICKET="),
        token: find("export WICKET_TOKEN="),
        _child: child,
        printed: all,
    }
}

/// Runs `wicket dev` with `args`, expecting it to refuse to start.
fn refused(dir: &Path, args: &[&str]) -> String {
    let Output { status, stderr, .. } = wicket(dir, args).output().expect("run wicket dev");
    assert_eq!(
        status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&stderr)
    );
    String::from_utf8(stderr).unwrap()
}

impl Dev {
    fn line(&self, label: &str) -> &str {
        self.printed
            .iter()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no `{label}` line in {:#?}", self.printed))
    }

    fn curl(&self, args: &[&str]) -> Value {
        let out = Command::new("curl")
            .args(["-sS", "-H"])
            .arg(format!("Authorization: Bearer {}", self.token))
            .args(args)
            .output()
            .expect("run curl");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// The names of the `dev` chain's entries, as the API serves them.
    fn chain(&self) -> Vec<String> {
        let policies = self.curl(&[&format!("{}/v1/policies", self.api)]);
        policies["clusters"]["dev"]["chain"]
            .as_array()
            .unwrap_or_else(|| panic!("{policies}"))
            .iter()
            .map(|entry| entry["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// alice (`dev:sre`) asks for `edit` in payments with a ticket: every shipped module allows.
    fn ask(&self) -> Value {
        self.curl(&[
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"30m","reason":"INC-123: payments are failing"}"#,
            &format!("{}/v1/requests", self.api),
        ])
    }
}

#[test]
fn a_module_of_ones_own_joins_the_chain_for_one_run_and_edits_survive_restarts() {
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "needs curl on PATH"
    );
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let config = dir.join("data/wicket.toml");

    let first = start(dir, &[]);
    assert!(
        first.line("config").contains("(generated;"),
        "{:#?}",
        first.printed
    );
    assert_eq!(first.chain(), ["groups", "window", "tickets"]);
    assert_eq!(
        first.ask()["state"],
        "active",
        "the shipped chain allows alice"
    );
    drop(first);

    // The user's edit: the window policy caps TTLs outside its windows at 10 minutes.
    let generated = std::fs::read_to_string(&config).unwrap();
    let edited = generated.replace(
        "outside_max_ttl_seconds = 900",
        "# mine\noutside_max_ttl_seconds = 600",
    );
    assert_ne!(edited, generated);
    std::fs::write(&config, &edited).unwrap();

    // A module of one's own: group-access (as shipped) with settings letting `dev:oncall` alone
    // in, so that alice is denied by it and by it only.
    let module = dir.join("on call.wasm");
    std::fs::copy(dir.join("data/policies/group_access.wasm"), &module).unwrap();
    let settings = dir.join("on-call.json");
    std::fs::write(
        &settings,
        r#"{"allow": [{"groups": ["dev:oncall"], "clusters": ["dev"], "namespaces": ["payments"], "roles": ["edit"], "max_ttl_seconds": 600}]}"#,
    )
    .unwrap();
    let policy = format!("{}={}", module.display(), settings.display());

    let second = start(dir, &["--policy", &policy]);
    assert!(
        second.line("config").contains("(your edits, kept;"),
        "{:#?}",
        second.printed
    );
    let path = std::fs::canonicalize(&module).unwrap();
    assert!(
        second
            .line("policies")
            .ends_with(&format!("-> on-call ({}; --policy)", path.display())),
        "{:#?}",
        second.printed
    );
    assert_eq!(second.chain(), ["groups", "window", "tickets", "on-call"]);
    let denied = second.ask();
    assert_eq!(denied["error"]["code"], "denied", "{denied}");
    let message = denied["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("module `on-call`: ") && !message.contains("module `groups`"),
        "denied by the added module alone: {denied}"
    );
    let during = std::fs::read_to_string(&config).unwrap();
    assert!(
        during.contains("# mine\noutside_max_ttl_seconds = 600"),
        "{during}"
    );
    drop(second);

    // Without `--policy` the module is gone again; the edit stays.
    let third = start(dir, &[]);
    assert!(third.line("config").contains("(your edits, kept;"));
    assert_eq!(third.chain(), ["groups", "window", "tickets"]);
    assert_eq!(third.ask()["state"], "active");
    let after = std::fs::read_to_string(&config).unwrap();
    assert!(
        after.contains("# mine\noutside_max_ttl_seconds = 600"),
        "{after}"
    );
    assert!(!after.contains("on call.wasm"), "{after}");
    drop(third);

    // Deleting the file brings the generated one back.
    std::fs::remove_file(&config).unwrap();
    let fourth = start(dir, &[]);
    assert!(fourth.line("config").contains("(generated;"));
    assert!(!std::fs::read_to_string(&config).unwrap().contains("# mine"));
}

/// A module that abstains through `wicket dev`: `workload-identity` (as shipped, default
/// `humans`) added to the chain is not concerned with alice, a person, so the shipped modules
/// decide her request alone; the request's record shows the abstention and its reason.
#[test]
fn a_module_that_abstains_leaves_the_request_to_the_rest_of_the_chain() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    // The first start writes the shipped modules into the data directory.
    drop(start(dir, &[]));
    let module = dir.join("data/policies/workload_identity.wasm");
    let settings = dir.join("ci.json");
    std::fs::write(
        &settings,
        r#"{"workloads": [{"name": "deploy", "issuer": "https://ci.example.com", "subject": "repo:octo/app",
            "clusters": ["dev"], "namespaces": ["payments"], "roles": ["edit"], "max_ttl": "1m"}]}"#,
    )
    .unwrap();
    let policy = format!("{}={}", module.display(), settings.display());
    let dev = start(dir, &["--policy", &policy]);
    assert_eq!(
        dev.chain(),
        ["groups", "window", "tickets", "workload_identity"]
    );

    let created = dev.ask();
    assert_eq!(created["state"], "active", "{created}");
    let id = created["id"].as_str().unwrap();
    let shown = dev.curl(&[&format!("{}/v1/requests/{id}", dev.api)]);
    let modules = shown["modules"]
        .as_array()
        .unwrap_or_else(|| panic!("{shown}"));
    let added = modules
        .iter()
        .find(|m| m["module"] == "workload_identity")
        .unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(added["decision"]["decision"], "abstain", "{shown}");
    assert!(
        added["decision"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("people are another policy's concern")),
        "{shown}"
    );
    // The grant is what the allowing modules allow (the window module's cap depends on the time
    // of day); the abstaining module's one-minute cap plays no part.
    let allowed = modules
        .iter()
        .filter(|m| m["decision"]["decision"] == "allow")
        .map(|m| m["decision"]["grant"]["ttl_seconds"].as_u64().unwrap())
        .min()
        .unwrap();
    assert_eq!(shown["grant"]["ttl_seconds"], allowed, "{shown}");
    assert_ne!(allowed, 60, "{shown}");
}

#[test]
fn a_module_that_cannot_be_used_is_one_line_and_exit_code_2() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let not_a_module = write("junk.wasm", "not wasm");
    let settings = write("broken.json", "{\"allow\": ");
    let unknown = write("unknown.json", r#"{"no_such_setting": true}"#);

    let missing = refused(dir, &["--policy", "missing.wasm"]);
    assert_eq!(
        missing,
        "error: `--policy` `missing.wasm`: no module file `missing.wasm`\n"
    );
    let arg = format!("{not_a_module}={settings}");
    let bad_settings = refused(dir, &["--policy", &arg]);
    assert!(
        bad_settings.starts_with(&format!(
            "error: `--policy` `{arg}`: `{settings}` is not JSON: "
        )),
        "{bad_settings}"
    );
    assert_eq!(bad_settings.lines().count(), 1, "{bad_settings}");

    // Rejected by the host: not a component; settings the module refuses.
    let rejected = refused(dir, &["--policy", &not_a_module]);
    assert!(
        rejected.contains("error: cannot load the policy chains: cluster `dev`, policy `junk`: "),
        "{rejected}"
    );
    assert_eq!(
        rejected.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{rejected}"
    );
    let module = dir.join("data/policies/group_access.wasm");
    let arg = format!("{}={unknown}", module.display());
    let refused_settings = refused(dir, &["--policy", &arg]);
    assert!(
        refused_settings.contains("policy `group_access`: ")
            && refused_settings.contains("no_such_setting"),
        "{refused_settings}"
    );
}
