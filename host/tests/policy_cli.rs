//! `wicket policy` run as a process: the shipped policies' cases files pass, a wrong cases
//! file fails with a diff, and bad input is one `error:` line with exit code 2.
//!
//! Needs the policies built first (as `tests/run.sh` does):
//! `cargo build --release --target wasm32-wasip2 -p group-access -p change-window -p require-ticket -p workload-identity`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use wicket::domain::{ModuleVerdict, RequestState};

use rstest::rstest;
use sha2::{Digest, Sha256};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The built module of a shipped policy (`policies/<dir>`).
fn policy_module(dir: &str) -> PathBuf {
    let path = repo()
        .join("target/wasm32-wasip2/release")
        .join(format!("{}.wasm", dir.replace('-', "_")));
    assert!(
        path.is_file(),
        "{} is missing: build the policies first (cargo build --release --target wasm32-wasip2 -p {dir})",
        path.display()
    );
    path
}

fn wicket(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wicket"))
        .arg("--no-cache")
        .args(args)
        .output()
        .expect("running wicket")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_shipped_policy_passes_its_cases() {
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("policies")).expect("policies/") {
        let dir = entry.expect("entry").path();
        let cases = dir.join("cases.json");
        if !cases.is_file() {
            continue;
        }
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let module = policy_module(&name);
        let out = wicket(&[
            "policy".as_ref(),
            "test".as_ref(),
            module.as_os_str(),
            cases.as_os_str(),
        ]);
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {stdout}\n{}",
            text(&out.stderr)
        );
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&cases).expect("cases")).expect("json");
        let count = file["cases"].as_array().expect("cases array").len();
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with("ok   ")).count(),
            count,
            "{name}: {stdout}"
        );
        assert!(
            stdout.contains(&format!("{count} passed, 0 failed")),
            "{stdout}"
        );
        seen += 1;
    }
    assert!(seen >= 1, "no policies/*/cases.json found");
}

#[test]
fn a_wrong_case_fails_with_a_diff() {
    let module = policy_module("group-access");
    let cases = fixture("wrong-cases.json");
    let out = wicket(&[
        "policy".as_ref(),
        "test".as_ref(),
        module.as_os_str(),
        cases.as_os_str(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("ok   view is allowed, as expected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FAIL deliberately wrong: expects edit to be allowed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  -   \"decision\": \"allow\","),
        "{stdout}"
    );
    assert!(stdout.contains("  +   \"decision\": \"deny\","), "{stdout}");
    assert!(stdout.contains("1 passed, 1 failed"), "{stdout}");
}

#[test]
fn check_reports_world_digest_and_interfaces() {
    let module = policy_module("group-access");
    let out = wicket(&[
        "policy".as_ref(),
        "check".as_ref(),
        module.as_os_str(),
        "--json".as_ref(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let bytes = std::fs::read(&module).expect("module");
    assert_eq!(report["world"], "policy");
    assert_eq!(report["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(report["size"], bytes.len());
    let exports: Vec<&str> = report["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert_eq!(exports, ["wicket:policy/evaluator@0.2.0"]);
    assert_eq!(report["world_name"], "wicket:policy/policy@0.2.0");
}

/// `wicket policy eval`, which must succeed, and its JSON output.
fn eval(module: &Path, settings: &Path, request: &Path) -> serde_json::Value {
    let out = wicket(&[
        "policy".as_ref(),
        "eval".as_ref(),
        module.as_os_str(),
        "--settings".as_ref(),
        settings.as_os_str(),
        "--request".as_ref(),
        request.as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn eval_prints_the_verdict_with_timings() {
    let module = policy_module("group-access");
    let (settings, request) = (fixture("settings.json"), fixture("request.json"));
    let evaluation = eval(&module, &settings, &request);
    assert_eq!(evaluation["verdict"]["decision"], "allow", "{evaluation:#}");
    assert_eq!(evaluation["verdict"]["grant"]["ttl_seconds"], 1800);
    assert_eq!(evaluation["modules"][0]["outcome"], "decided");
    assert!(
        evaluation["modules"][0]["duration_us"]
            .as_f64()
            .is_some_and(|d| d > 0.0)
    );
    assert!(evaluation["duration_us"].as_f64().is_some_and(|d| d > 0.0));
}

/// A request file may hold the REST API's body: `"duration": "30m"`, no `id`, no
/// `requested_at` (before, `missing field duration_seconds`).
#[test]
fn eval_takes_the_rest_body_as_its_request() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let request = dir.path().join("body.json");
    let body = serde_json::json!({
        "identity": {"subject": "alice", "issuer": "https://idp.example.com", "groups": ["idp:sre"]},
        "request": {"cluster": "prod", "namespaces": ["payments"], "role": "edit",
                    "duration": "30m", "reason": "INC-123 payments failing"},
    });
    std::fs::write(&request, body.to_string()).expect("write the request");
    let evaluation = eval(
        &policy_module("group-access"),
        &fixture("settings.json"),
        &request,
    );
    assert_eq!(evaluation["verdict"]["decision"], "allow", "{evaluation:#}");
    assert_eq!(evaluation["verdict"]["grant"]["ttl_seconds"], 1800);
}

/// The approval object is one shape: what `policy eval` prints for a module (and in the
/// verdict's `approvals`) is exactly what a case's `expect.approval` holds, and the case passes.
#[test]
fn the_approval_eval_prints_is_the_one_a_case_expects() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let module = policy_module("require-ticket");
    let settings = serde_json::json!({"namespaces": ["payments"],
        "ticket_pattern": "\\b(INC|CHG)-[0-9]+\\b", "approver_groups": ["corp:sre-leads"]});
    let settings_path = dir.path().join("settings.json");
    std::fs::write(&settings_path, settings.to_string()).expect("write the settings");
    let request = request_file(dir.path(), "alice", "corp:sre", "dev", "no ticket");
    let evaluation = eval(&module, &settings_path, &request);
    let decision = &evaluation["modules"][0]["decision"];
    assert_eq!(decision["decision"], "needs_approval", "{evaluation:#}");
    let approval = &decision["approval"];
    assert_eq!(
        evaluation["verdict"]["approvals"][0], *approval,
        "{evaluation:#}"
    );

    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&request).expect("request")).expect("json");
    let cases = dir.path().join("cases.json");
    let cases_file = serde_json::json!({"settings": settings, "cases": [{
        "name": "no ticket needs the leads", "identity": file["identity"], "request": file["request"],
        "expect": {"decision": "needs_approval", "approval": approval}}]});
    std::fs::write(&cases, cases_file.to_string()).expect("write the cases");
    let out = wicket(&[
        "policy".as_ref(),
        "test".as_ref(),
        module.as_os_str(),
        cases.as_os_str(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("ok   no ticket needs the leads"),
        "{stdout}"
    );
}

/// Settings errors name the field, never a position in JSON the host wrote; a settings file
/// reaches the module as written, so a position in it is the file's own.
#[rstest]
#[case::type_error(
    "{\n  \"allow\": [\n    {\"groups\": [\"idp:sre\"], \"clusters\": [\"prod\"],\n     \"namespaces\": \"payments\", \"roles\": [\"view\"]}\n  ]\n}\n",
    "module `group_access.wasm` rejected its settings: invalid settings: allow[0].namespaces: invalid type: string \"payments\", expected a sequence"
)]
#[case::duration(
    "{\"allow\": [{\"groups\": [\"idp:sre\"], \"clusters\": [\"prod\"], \"namespaces\": [\"payments\"],\n  \"roles\": [\"view\"], \"max_ttl\": \"1 month\"}]}\n",
    "module `group_access.wasm` rejected its settings: invalid settings: allow[0].max_ttl: duration `1 month` uses months or years"
)]
#[case::prefix_once(
    "{\"allow\": [{\"groups\": [], \"clusters\": [\"prod\"], \"namespaces\": [\"payments\"], \"roles\": [\"view\"]}]}",
    "module `group_access.wasm` rejected its settings: invalid settings: allow[0].groups: is empty"
)]
#[case::syntax(
    "{\n  \"allow\": [\n    {\"groups\": [\"idp:sre\"]}\n    {\"groups\": [\"idp:sre\"]}\n  ]\n}\n",
    "is not valid: expected `,` or `]` at line 4 column 5"
)]
fn settings_errors_name_the_field_and_positions_are_the_files(
    #[case] settings: &str,
    #[case] wanted: &str,
) {
    let module = policy_module("group-access");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("settings.json");
    std::fs::write(&path, settings).expect("write settings");
    let out = wicket(&[
        "policy".as_ref(),
        "eval".as_ref(),
        module.as_os_str(),
        "--settings".as_ref(),
        path.as_os_str(),
        "--request".as_ref(),
        fixture("request.json").as_os_str(),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(wanted), "{stderr}");
    assert_eq!(
        stderr.matches("invalid settings").count(),
        usize::from(!wanted.starts_with("is not valid")),
        "{stderr}"
    );
    if !wanted.contains(" at line ") {
        assert!(
            !stderr.contains(" line ") && !stderr.contains("column"),
            "{stderr}"
        );
    }
}

/// A request far larger than the SDK's initial heap arena: the guest's allocator grows linear
/// memory and decides exactly as for a small one.
#[test]
fn a_policy_decides_requests_larger_than_its_heap_arena() {
    let module = policy_module("group-access");
    let dir = tempfile::tempdir().expect("tempdir");
    // 256 namespaces is the most a decision may list; the reason makes up the size.
    let namespaces: Vec<String> = (0..256)
        .map(|i| format!("team-{i:03}-a-namespace-name-long-enough-to-fill-memory"))
        .collect();
    let reason = format!("INC-123 {}", "every team is affected. ".repeat(40_000));
    let settings = dir.path().join("settings.json");
    let request = dir.path().join("request.json");
    std::fs::write(
        &settings,
        serde_json::json!({"allow": [{"groups": ["idp:sre"], "clusters": ["prod"],
            "namespaces": ["team-*"], "roles": ["edit"], "max_ttl_seconds": 3600}]})
        .to_string(),
    )
    .expect("write settings");
    std::fs::write(
        &request,
        serde_json::json!({
            "identity": {"subject": "alice", "issuer": "https://idp.example.com", "groups": ["idp:sre"]},
            "request": {"cluster": "prod", "namespaces": namespaces, "role": "edit",
                "duration_seconds": 1800, "reason": reason}
        })
        .to_string(),
    )
    .expect("write request");
    let evaluation = eval(&module, &settings, &request);
    assert_eq!(evaluation["verdict"]["decision"], "allow", "{evaluation:#}");
    let granted: Vec<&str> = evaluation["verdict"]["grant"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .map(|grant| grant["namespace"].as_str().expect("a name"))
        .collect();
    assert_eq!(granted, namespaces);
}

#[test]
fn compiled_modules_are_cached_by_digest() {
    let module = policy_module("group-access");
    let cache = tempfile::tempdir().expect("tempdir");
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_wicket"))
            .args([
                "--cache-dir".as_ref(),
                cache.path().as_os_str(),
                "policy".as_ref(),
                "check".as_ref(),
                module.as_os_str(),
            ])
            .output()
            .expect("running wicket");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let digest = hex::encode(Sha256::digest(std::fs::read(&module).expect("module")));
    let cached: Vec<String> = std::fs::read_dir(cache.path())
        .expect("cache dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(
        cached[0].starts_with(&digest) && cached[0].ends_with(".cwasm"),
        "{cached:?}"
    );
}

enum Module {
    GroupAccess,
    Fixture(&'static str),
    Missing,
}

#[rstest]
#[case::missing_module(Module::Missing, &["check"], "cannot read policy module")]
#[case::not_a_component(Module::Fixture("not-wasm.wasm"), &["check"], "is not a valid WebAssembly component")]
#[case::wrong_world(Module::Fixture("empty-component.wasm"), &["check"], "it exports: nothing")]
#[case::missing_cases_file(Module::GroupAccess, &["test", "no-such-cases.json"], "cannot read `")]
#[case::malformed_cases_json(Module::GroupAccess, &["test", "@malformed.json"], "is not valid")]
#[case::unknown_field(Module::GroupAccess, &["test", "@unknown-field-cases.json"], "unknown field `ttl`")]
#[case::malformed_request(Module::GroupAccess, &["eval", "--settings", "@settings.json", "--request", "@malformed.json"], "is not valid")]
#[case::request_is_not_a_request(Module::GroupAccess, &["eval", "--settings", "@settings.json", "--request", "@settings.json"], "unknown field `allow`")]
#[case::settings_rejected(Module::GroupAccess, &["eval", "--settings", "@request.json", "--request", "@request.json"], "rejected its settings")]
fn bad_input_is_one_line_and_exit_2(
    #[case] module: Module,
    #[case] args: &[&str],
    #[case] message: &str,
) {
    let module = match module {
        Module::GroupAccess => policy_module("group-access"),
        Module::Fixture(name) => fixture(name),
        Module::Missing => fixture("no-such-module.wasm"),
    };
    let mut command: Vec<std::ffi::OsString> =
        vec!["policy".into(), args[0].into(), module.into_os_string()];
    for arg in &args[1..] {
        command.push(match arg.strip_prefix('@') {
            Some(name) => fixture(name).into_os_string(),
            None => (*arg).into(),
        });
    }
    let refs: Vec<&std::ffi::OsStr> = command.iter().map(AsRef::as_ref).collect();
    let out = wicket(&refs);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}

/// Records three decided requests in a fresh store in `dir`: of the `groups` entry, alice
/// (sre) allowed to view `orders` and bob (developers) denied; carol (developers) denied by a
/// `gate` entry before `groups`, which was skipped.
async fn record_requests(dir: &Path) {
    use wicket::audit::Actor;
    use wicket::domain::{AccessRequest, Decision, Identity};
    use wicket::store::{Decided, SqliteStore, Store};
    let store = SqliteStore::open(&dir.join("wicket.db"))
        .await
        .expect("a store");
    for (id, subject, group, decision, gated) in [
        (
            "r-alice",
            "alice",
            "idp:sre",
            serde_json::json!({"decision": "allow", "grant": {"namespaces": [{"namespace": "orders", "role": "view"}], "ttl_seconds": 600}}),
            false,
        ),
        (
            "r-bob",
            "bob",
            "idp:developers",
            serde_json::json!({"decision": "deny", "reason": "no rule lets bob view orders"}),
            false,
        ),
        (
            "r-carol",
            "carol",
            "idp:developers",
            serde_json::json!({"decision": "deny", "reason": "carol is suspended"}),
            true,
        ),
    ] {
        let identity: Identity = serde_json::from_value(serde_json::json!({
            "subject": subject, "issuer": "https://idp.example.com", "groups": [group]
        }))
        .expect("an identity");
        let request: AccessRequest = serde_json::from_value(serde_json::json!({
            "id": id, "cluster": "dev", "namespaces": ["orders"], "role": "view",
            "duration_seconds": 600, "reason": "INC-1", "requested_at": "2026-11-21T10:00:00Z"
        }))
        .expect("a request");
        let decision: Decision = serde_json::from_value(decision).expect("a decision");
        let to = match decision {
            Decision::Allow { .. } => RequestState::Approved,
            _ => RequestState::Denied,
        };
        let groups = ModuleVerdict {
            module: "groups".into(),
            digest: "recorded".into(),
            decision: Some(decision.clone()),
            duration_us: 10,
            error: None,
            skipped_after: None,
        };
        let modules = if gated {
            vec![
                ModuleVerdict {
                    module: "gate".into(),
                    ..groups
                },
                ModuleVerdict {
                    module: "groups".into(),
                    digest: "recorded".into(),
                    decision: None,
                    duration_us: 0,
                    error: None,
                    skipped_after: Some("gate".into()),
                },
            ]
        } else {
            vec![groups]
        };
        store
            .insert_decided(Decided {
                request: &request,
                requester: &identity,
                decision: &decision.clone().into(),
                modules: &modules,
                to,
                actor: &Actor::service("policy"),
                also: &[],
                due_at: None,
            })
            .await
            .expect("store the decided request");
    }
    store.close().await;
}

#[tokio::test]
async fn replay_reports_the_changed_verdicts_of_recorded_requests() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    record_requests(dir.path()).await;
    let module = policy_module("group-access");
    let settings = dir.path().join("candidate.json");
    std::fs::write(
        &settings,
        r#"{"allow": [
            {"groups": ["idp:sre"], "clusters": ["dev"], "namespaces": ["orders"], "roles": ["view"], "max_ttl_seconds": 3600},
            {"groups": ["idp:developers"], "clusters": ["dev"], "namespaces": ["orders"], "roles": ["view"], "max_ttl_seconds": 3600}
        ]}"#,
    )
    .expect("write the settings");
    let data = dir.path().as_os_str();
    let replay = |extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "policy".as_ref(),
            "replay".as_ref(),
            module.as_os_str(),
            "--entry".as_ref(),
            "groups".as_ref(),
            "--settings".as_ref(),
            settings.as_os_str(),
            "--data".as_ref(),
            data,
        ];
        args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
        wicket(&args)
    };
    let output = replay(&[]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        text(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "r-bob bob dev orders/view 600s: deny (no rule lets bob view orders) -> allow 600s",
            "replayed 2 requests against `groups`: 1 changed, 1 unchanged (1 not reached then: an earlier module denied them)",
        ],
        "{stdout}"
    );
    // Nothing recorded since a time after the requests: nothing changes.
    let later = replay(&["--since", "2100-01-01T00:00:00Z"]);
    assert_eq!(later.status.code(), Some(0), "{}", text(&later.stderr));
    assert!(text(&later.stdout).contains("replayed 0 requests"));
}

#[rstest]
#[case::no_store(&["policy", "replay", "m.wasm", "--entry", "groups"], "give `--config` or `--data`")]
#[case::bad_since(&["policy", "replay", "m.wasm", "--data", ".", "--since", "yesterday"], "`--since` `yesterday`")]
#[case::no_entry(&["policy", "replay", "m.wasm", "--data", "."], "name the chain entry")]
fn replay_bad_input_is_one_line_and_exit_2(#[case] args: &[&str], #[case] message: &str) {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let output = wicket(&args);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
}

/// Settings written in the TOML configuration reach the module as JSON the host wrote: a type
/// error in them names the field, never a line or column of that JSON.
#[test]
fn a_settings_error_in_the_configuration_names_the_field_not_a_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = gated_config(dir.path());
    let written = std::fs::read_to_string(&config).expect("read the configuration");
    let broken = written.replace(
        r#"namespaces = ["payments"], roles = ["edit"], max_ttl_seconds = 3600"#,
        r#"namespaces = "payments", roles = ["edit"], max_ttl = "1d""#,
    );
    assert_ne!(broken, written);
    std::fs::write(&config, broken).expect("write the configuration");
    let request = request_file(dir.path(), "alice", "corp:sre", "dev", "INC-1");
    let out = run_eval_chain(&config, &request, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "invalid settings: allow[0].namespaces: invalid type: string \"payments\", expected a sequence"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("column"), "{stderr}");
}

/// A configuration in `dir` whose cluster `dev` runs `groups` (a gate: `on_deny = "stop"`,
/// sre only) then `tickets` (payments needs a ticket).
fn gated_config(dir: &Path) -> PathBuf {
    let config = dir.join("wicket.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[issuers]]
alias = "corp"
issuer = "https://login.example.com"
audiences = ["wicket"]
algorithms = ["RS256"]
jwks_file = "jwks.json"

[[clusters]]
name = "dev"
kubeconfig = "dev.kubeconfig"
server = "https://dev.example.com:6443"

[[clusters.policies]]
name = "groups"
module = "{groups}"
on_deny = "stop"
[clusters.policies.settings]
allow = [{{ groups = ["corp:sre"], clusters = ["dev"], namespaces = ["payments"], roles = ["edit"], max_ttl_seconds = 3600 }}]

[[clusters.policies]]
name = "tickets"
module = "{tickets}"
[clusters.policies.settings]
namespaces = ["payments"]
ticket_pattern = "\\b(INC|CHG)-[0-9]+\\b"
approver_groups = ["corp:sre-leads"]
"#,
            groups = policy_module("group-access").display(),
            tickets = policy_module("require-ticket").display(),
        ),
    )
    .expect("write the configuration");
    config
}

/// A request file in `dir`: `subject` in `group` asks for edit in `cluster`'s payments.
fn request_file(dir: &Path, subject: &str, group: &str, cluster: &str, reason: &str) -> PathBuf {
    let path = dir.join(format!("{subject}.json"));
    let request = serde_json::json!({
        "identity": {"subject": subject, "issuer": "https://login.example.com", "groups": [group]},
        "request": {"cluster": cluster, "namespaces": ["payments"], "role": "edit",
                    "duration_seconds": 1800, "reason": reason},
    });
    std::fs::write(&path, request.to_string()).expect("write the request");
    path
}

/// Runs `wicket policy eval --config … --request …` plus `extra`.
fn run_eval_chain(config: &Path, request: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "policy".as_ref(),
        "eval".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--request".as_ref(),
        request.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    wicket(&args)
}

/// [`run_eval_chain`], which must succeed; its JSON.
fn eval_chain(config: &Path, request: &Path, extra: &[&str]) -> serde_json::Value {
    let out = run_eval_chain(config, request, extra);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

fn outcomes(evaluation: &serde_json::Value) -> Vec<(String, String)> {
    evaluation["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .map(|m| {
            let name = m["name"].as_str().unwrap_or_default().to_owned();
            let outcome = match (m["outcome"].as_str(), m["decision"]["decision"].as_str()) {
                (Some("decided"), Some(decision)) => decision.to_owned(),
                (Some(other), _) => other.to_owned(),
                (None, _) => "?".to_owned(),
            };
            (name, outcome)
        })
        .collect()
}

#[test]
fn eval_with_a_configuration_runs_the_clusters_chain_as_configured_or_every_module() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = gated_config(dir.path());
    let pair = |name: &str, outcome: &str| (name.to_owned(), outcome.to_owned());

    // bob is not in sre: the gate denies and `tickets` does not run.
    let bob = request_file(dir.path(), "bob", "corp:developers", "dev", "deploy");
    let gated = eval_chain(&config, &bob, &[]);
    assert_eq!(gated["verdict"]["decision"], "deny", "{gated:#}");
    assert_eq!(
        outcomes(&gated),
        [pair("groups", "deny"), pair("tickets", "skipped")],
        "{gated:#}"
    );
    assert_eq!(gated["modules"][1]["after"], "groups", "{gated:#}");
    let reason = gated["verdict"]["reason"].as_str().unwrap();
    assert!(!reason.contains("tickets"), "{reason}");

    // --every-module: the same verdict, and what `tickets` would have said.
    let every = eval_chain(&config, &bob, &["--every-module"]);
    assert_eq!(every["verdict"], gated["verdict"], "{every:#}");
    assert_eq!(
        outcomes(&every),
        [pair("groups", "deny"), pair("tickets", "needs_approval")],
        "{every:#}"
    );

    // alice is in sre and cites a ticket: both modules allow.
    let alice = request_file(
        dir.path(),
        "alice",
        "corp:sre",
        "dev",
        "INC-123 payments failing",
    );
    let allowed = eval_chain(&config, &alice, &[]);
    assert_eq!(allowed["verdict"]["decision"], "allow", "{allowed:#}");
    assert_eq!(
        outcomes(&allowed),
        [pair("groups", "allow"), pair("tickets", "allow")],
        "{allowed:#}"
    );
}

#[rstest]
#[case::cluster_not_configured("prod", None, "the request's cluster `prod` is not in")]
#[case::module_missing(
    "dev",
    Some("no-such.wasm"),
    "cannot load the policy chains: cluster `dev`, policy `groups`"
)]
fn eval_with_a_configuration_refuses_what_the_service_would(
    #[case] cluster: &str,
    #[case] module: Option<&str>,
    #[case] message: &str,
) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = gated_config(dir.path());
    if let Some(module) = module {
        let text = std::fs::read_to_string(&config).unwrap().replacen(
            &policy_module("group-access").display().to_string(),
            &dir.path().join(module).display().to_string(),
            1,
        );
        std::fs::write(&config, text).unwrap();
    }
    let request = request_file(dir.path(), "alice", "corp:sre", cluster, "INC-1");
    let out = run_eval_chain(&config, &request, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
}
