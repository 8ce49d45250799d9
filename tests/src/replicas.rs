//! Several replicas: kube-sim and N real `wicket serve` processes sharing one database, each on
//! `127.0.0.1:0` with its own replica id (`WICKET_REPLICA`), started from one configuration
//! file as a Deployment's pods would be. The database is a parameter ([`Database`]): a SQLite
//! file (two processes on one file extend one chain) or a PostgreSQL URL (a server the caller
//! runs, e.g. from `tests/src/postgres.rs`).
//!
//! A replica is killed with `SIGKILL` (`kill -9`: nothing runs after it) or stopped with
//! `SIGTERM`; every process still running is killed when the [`Replicas`] are dropped.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::env::{Answer, CONFIG, Env, wait_for};
use crate::tokens::token;

/// The database the replicas share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (created by the first replica); a relative path is relative to the
    /// configuration's directory.
    Sqlite(PathBuf),
    /// A PostgreSQL URL without a password, and the file holding the password, if any.
    Postgres {
        /// `postgres://user@host:port/db`.
        url: String,
        /// `[data] password_file`.
        password_file: Option<PathBuf>,
    },
}

impl Database {
    /// `data/wicket.db` in the test's temporary directory.
    pub fn sqlite() -> Self {
        Self::Sqlite(PathBuf::from("data/wicket.db"))
    }

    /// The `[data]` section naming this database.
    pub fn section(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("[data]\npath = {:?}\n", path.display().to_string()),
            Self::Postgres { url, password_file } => {
                let mut section = format!("[data]\nurl = {url:?}\n");
                if let Some(file) = password_file {
                    section.push_str(&format!(
                        "password_file = {:?}\n",
                        file.display().to_string()
                    ));
                }
                section
            }
        }
    }
}

/// The `[data]` section of the test configuration template, which [`Replicas`] replace.
const DATA_SECTION: &str = "[data]\npath = \"{data}/wicket.db\"\n";

/// The `wicket` binary the replicas run: `$WICKET_BIN` when set, else built once per test
/// process by `cargo build -p wicket --bin wicket` into the target directory and profile of
/// the running test.
pub fn wicket_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("WICKET_BIN") {
                return PathBuf::from(path);
            }
            // `<target>/<profile>/deps/<test>-<hash>` (or `<target>/<profile>/<bin>`).
            let exe = std::env::current_exe().expect("the test's own path");
            let mut profile_dir = exe.parent().expect("a directory").to_owned();
            if profile_dir.ends_with("deps") {
                profile_dir.pop();
            }
            let profile = profile_dir
                .file_name()
                .and_then(|name| name.to_str())
                .expect("a profile directory")
                .to_owned();
            let target_dir = profile_dir.parent().expect("a target directory");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut command = Command::new(cargo);
            command
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(["build", "--quiet", "-p", "wicket", "--bin", "wicket"])
                .arg("--target-dir")
                .arg(target_dir);
            match profile.as_str() {
                "debug" => {}
                "release" => {
                    command.arg("--release");
                }
                other => {
                    command.args(["--profile", other]);
                }
            }
            let status = command.status().expect("run cargo build -p wicket");
            assert!(status.success(), "building the wicket binary failed");
            profile_dir.join("wicket")
        })
        .clone()
}

/// kube-sim, the shared configuration, and the running replicas.
pub struct Replicas {
    /// kube-sim, the temporary directory, the policies and the parsed configuration.
    pub env: Env,
    /// The replicas, in start order (killed or stopped ones included).
    pub replicas: Vec<Replica>,
    database: Database,
}

/// One `wicket serve` process; its HTTP API through [`Endpoint`] (`Deref`).
pub struct Replica {
    endpoint: Endpoint,
    /// Where its stderr goes.
    pub log: PathBuf,
    child: Option<Child>,
}

/// A replica's HTTP API: cheap to clone into load tasks.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The replica id (`WICKET_REPLICA`).
    pub name: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    http: reqwest::Client,
}

impl std::ops::Deref for Replica {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// A request's audit events, as `GET /v1/audit` lists them.
pub type Events = Vec<Value>;

impl Replicas {
    /// Starts kube-sim and `count` replicas on `database`, with the test configuration
    /// (`fixtures/wicket.toml`) and a reconciler interval of `reconcile`.
    pub async fn start(database: Database, count: usize, reconcile: &str) -> Self {
        Self::start_with(database, count, CONFIG, reconcile).await
    }

    /// Like [`Replicas::start`] with the configuration template `config`, whose `[data]`
    /// section names the test's SQLite file (as `fixtures/wicket.toml` does).
    pub async fn start_with(
        database: Database,
        count: usize,
        config: &str,
        reconcile: &str,
    ) -> Self {
        assert!(
            config.contains(DATA_SECTION),
            "the configuration template has the `[data]` section of fixtures/wicket.toml"
        );
        let template = config.replacen(DATA_SECTION, &database.section(), 1);
        let env = Env::start_with(&template, reconcile).await;
        let mut replicas = Self {
            env,
            replicas: Vec::new(),
            database,
        };
        for _ in 0..count {
            replicas.add().await;
        }
        replicas
    }

    /// The database the replicas share.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Starts one more replica (`replica-<n>`) and waits until it serves and is ready.
    pub async fn add(&mut self) -> &Replica {
        let name = format!("replica-{}", self.replicas.len());
        let replica = Replica::spawn(&self.env, &name).await;
        self.replicas.push(replica);
        self.replicas.last().expect("just added")
    }

    /// Replica `index`.
    pub fn get(&self, index: usize) -> &Replica {
        &self.replicas[index]
    }

    /// Kills replica `index` with `SIGKILL` and waits for it to be gone.
    pub fn kill(&mut self, index: usize) {
        self.replicas[index].kill();
    }

    /// Runs `wicket audit verify` on the shared database: its exit code and what it printed.
    pub fn audit_verify(&self) -> (Option<i32>, String) {
        let out = Command::new(wicket_binary())
            .args(["audit", "verify", "--config"])
            .arg(self.env.config_path())
            .output()
            .expect("run wicket audit verify");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// An auditor's token (`test:auditors`).
pub fn auditor() -> String {
    token("ada", &["auditors"])
}

impl Replica {
    async fn spawn(env: &Env, name: &str) -> Self {
        let log = env.dir.path().join(format!("{name}.stderr"));
        let child = Command::new(wicket_binary())
            .args(["serve", "--config"])
            .arg(env.config_path())
            .env("WICKET_REPLICA", name)
            .env("WICKET_CACHE_DIR", env.dir.path().join("module-cache"))
            .env_remove("WICKET_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("start wicket serve");
        let mut replica = Self {
            endpoint: Endpoint {
                name: name.to_owned(),
                base: String::new(),
                http: reqwest::Client::new(),
            },
            log,
            child: Some(child),
        };
        let started = Instant::now();
        // Compiling the modules for the first replica takes a while in debug builds.
        let limit = Duration::from_secs(300);
        replica.endpoint.base = loop {
            let printed = std::fs::read_to_string(&replica.log).unwrap_or_default();
            if let Some(base) = printed
                .lines()
                .find_map(|line| line.strip_prefix("wicket: serving on "))
            {
                break base.trim().to_owned();
            }
            if let Some(status) = replica.child_mut().try_wait().expect("poll wicket serve") {
                panic!("{name} exited ({status}) before serving:\n{printed}");
            }
            assert!(
                started.elapsed() < limit,
                "{name} is not serving after {limit:?}:\n{printed}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let http = replica.endpoint.http.clone();
        let url = format!("{}/readyz", replica.endpoint.base);
        wait_for(&format!("{name} to be ready"), limit, || {
            let request = http.get(&url).send();
            async move { request.await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
        replica
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("a running replica")
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().ok().flatten().is_none())
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9`: nothing of the process runs after this returns.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `SIGTERM`, then waits (at most `limit`, then `SIGKILL`) for the process to end.
    pub fn stop(&mut self, limit: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = Instant::now();
        while child.try_wait().ok().flatten().is_none() && started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its HTTP API, to clone into tasks.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }
}

impl Endpoint {
    /// Sends `method path` with an optional bearer token and JSON body; `None` when the
    /// replica did not answer (refused, reset: a killed replica).
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Option<Answer> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(Duration::from_secs(60));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let text = response.text().await.ok()?;
        Some(Answer {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        })
    }

    /// Like [`Replica::try_call`]; panics when the replica does not answer.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        match self.try_call(method, path, token, body).await {
            Some(answer) => answer,
            None => panic!("{} did not answer `{method} {path}`", self.name),
        }
    }

    /// Asks for `body` with `token`, expects it granted (201, `active`) and fetches its
    /// kubeconfig: the request id and the kubeconfig's text.
    pub async fn grant(&self, token: &str, body: &str) -> (String, String) {
        let created = self
            .call("POST", "/v1/requests", Some(token), Some(body))
            .await;
        assert_eq!(
            created.status, 201,
            "{}: {body}: {}",
            self.name, created.text
        );
        assert_eq!(created.json["state"], "active", "{}", created.text);
        let id = created.json["id"].as_str().expect("an id").to_owned();
        let issued = self
            .call(
                "GET",
                &format!("/v1/requests/{id}/kubeconfig"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(issued.status, 200, "{}: {}", self.name, issued.text);
        (id, issued.text)
    }

    /// Request `id` as this replica serves it to `token`'s holder.
    pub async fn request(&self, token: &str, id: &str) -> Answer {
        self.call("GET", &format!("/v1/requests/{id}"), Some(token), None)
            .await
    }

    /// Every request in `state` (or every request), as an auditor lists them (`GET
    /// /v1/requests`, paged).
    pub async fn requests(&self, state: Option<&str>) -> Vec<Value> {
        let auditor = auditor();
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = String::from("/v1/requests?limit=500");
            if let Some(state) = state {
                path.push_str(&format!("&state={state}"));
            }
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.call("GET", &path, Some(&auditor), None).await;
            assert_eq!(page.status, 200, "{}: {}", self.name, page.text);
            found.extend(page.json["items"].as_array().expect("items").clone());
            match page.json["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return found,
            }
        }
    }

    /// The whole audit log as this replica serves it (`GET /v1/audit`, paged), oldest first.
    pub async fn audit(&self) -> Events {
        let auditor = auditor();
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .call(
                    "GET",
                    &format!("/v1/audit?after={after}&limit=500"),
                    Some(&auditor),
                    None,
                )
                .await;
            assert_eq!(page.status, 200, "{}: {}", self.name, page.text);
            let items = page.json["items"].as_array().expect("items").clone();
            let Some(last) = items.last() else {
                return events;
            };
            after = last["seq"].as_i64().expect("a sequence number");
            events.extend(items);
        }
    }
}

/// The audit events of each request, by request id.
pub fn events_by_request(events: &[Value]) -> BTreeMap<String, Events> {
    let mut by_request: BTreeMap<String, Events> = BTreeMap::new();
    for event in events {
        if let Some(id) = event["request_id"].as_str() {
            by_request
                .entry(id.to_owned())
                .or_default()
                .push(event.clone());
        }
    }
    by_request
}

/// Effects audited more than once: a request's `state_changed` from one state to another, or
/// an `object_created` / `object_deleted` of one object, appearing twice. Each is described in
/// one line.
pub fn effects_audited_twice(events: &[Value]) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for event in events {
        let request = event["request_id"].as_str().unwrap_or("-");
        let details = &event["details"];
        let effect = match event["kind"].as_str().unwrap_or_default() {
            "state_changed" if details["from"] != details["to"] => format!(
                "{request}: state_changed {} -> {}",
                details["from"], details["to"]
            ),
            kind @ ("object_created" | "object_deleted") => {
                format!("{request}: {kind} {}", details["object"])
            }
            _ => continue,
        };
        *seen.entry(effect).or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(effect, count)| format!("{effect} ({count} times)"))
        .collect()
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for replica in &mut self.replicas {
            replica.kill();
        }
        if std::thread::panicking() {
            // The replicas' logs, for the failure at hand.
            let mut stderr = std::io::stderr();
            for replica in &self.replicas {
                let _ = writeln!(stderr, "--- {} ({}):", replica.name, replica.base);
                let _ = stderr.write_all(replica.stderr().as_bytes());
            }
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
