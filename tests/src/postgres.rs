//! A real PostgreSQL server for tests: `initdb` into a temporary directory, a server on a free
//! port of `127.0.0.1` (and a unix socket in that directory), run as an unprivileged user
//! (`postgres` when the tests run as root, as CI does), stopped and removed when dropped.
//!
//! The server runs under a keeper shell whose standard input is a pipe from this process: when
//! the test process ends, however it ends (a panic, an abort, `SIGKILL`), the pipe closes and the
//! keeper stops the server and removes its directory. So [`shared`], a server for a whole test
//! binary that is never dropped, is not left running either.
//!
//! The superuser is `wicket`, with the password [`Postgres::password`]: TCP connections must
//! give it (`scram-sha-256`), connections over the unix socket are trusted (the harness's own
//! `createdb`).
//!
//! ```no_run
//! let pg = wicket_tests::postgres::Postgres::start();
//! let url = pg.create_database(); // postgres://wicket@127.0.0.1:<port>/wicket_1
//! pg.stop(); // requests now get 503s
//! pg.start_again();
//! ```

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser's password (TCP connections must give it).
pub const PASSWORD: &str = "wicket-test-password";

/// How long a server gets to start or to stop.
const PATIENCE: Duration = Duration::from_secs(60);

/// Starts the server, waits for a line on standard input or its end, then stops the server
/// fast and waits for it; unless the line was `keep`, removes the server's directory. `$1` bin
/// dir, `$2` the server's directory (socket, log; data in `data/`), `$3` port, `$4` `fsync`.
const KEEPER: &str = r#"
"$1/postgres" -D "$2/data" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 -c fsync="$4" \
    -c max_connections=300 -c shared_buffers=32MB >>"$2/server.log" 2>&1 &
pid=$!
line=
read -r line || true
kill -INT "$pid" 2>/dev/null
wait "$pid"
if [ "$line" != keep ]; then rm -rf "$2"; fi
"#;

/// The user the server runs as: `Some((uid, gid))` of `postgres` when this process runs as root.
fn server_user() -> Option<(u32, u32)> {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let entry = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres") && fields.len() > 3)
        .expect(
            "the tests run as root and there is no user `postgres` to run PostgreSQL as \
             (`apt-get install postgresql` makes one)",
        );
    Some((
        entry[2].parse().expect("uid of `postgres`"),
        entry[3].parse().expect("gid of `postgres`"),
    ))
}

/// The directory of PostgreSQL's programs: `$WICKET_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`, else the directory of `initdb` on `PATH`.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WICKET_PG_BIN") {
        return dir.into();
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max();
    if let Some((_, bin)) = newest {
        return bin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| dir.join("initdb").is_file())
        .expect("no PostgreSQL: install the `postgresql` package (tests/run.sh does)")
}

/// A free TCP port on 127.0.0.1 (free when asked; the server retries on another if taken).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A running (or stopped) PostgreSQL server of the tests.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    /// Holds `data/` and the socket; owned by the server's user.
    dir: PathBuf,
    port: u16,
    user: Option<(u32, u32)>,
    keeper: Mutex<Option<Keeper>>,
    databases: AtomicU32,
    /// Whether the server syncs its writes to disk.
    fsync: bool,
}

#[derive(Debug)]
struct Keeper {
    child: Child,
    stdin: ChildStdin,
}

impl Postgres {
    /// `initdb` in a new temporary directory and a server on a free port, ready for
    /// connections; `fsync` off (the tests never crash the machine).
    pub fn start() -> Self {
        Self::start_with_fsync(false)
    }

    /// [`Postgres::start`] with `fsync` on, as production runs it (the benchmarks).
    pub fn start_durable() -> Self {
        Self::start_with_fsync(true)
    }

    fn start_with_fsync(fsync: bool) -> Self {
        let bin = bin_dir();
        let user = server_user();
        let dir = tempfile::Builder::new()
            .prefix("wicket-pg-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .expect("chmod the server's directory");
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, PASSWORD).expect("write the password file");
        if let Some((uid, gid)) = user {
            for path in [&dir, &pwfile] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to `postgres`");
            }
        }
        let server = Self {
            bin,
            dir,
            port: free_port(),
            user,
            keeper: Mutex::new(None),
            databases: AtomicU32::new(0),
            fsync,
        };
        let output = server
            .command("initdb")
            .arg("-D")
            .arg(server.data())
            .args([
                "--username=wicket",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        server.start_again();
        server
    }

    /// A program of PostgreSQL's, to run as the server's user.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        command.current_dir(&self.dir).env_remove("PGPASSWORD");
        command
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server's directory (its data, socket and `server.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password.
    pub fn password(&self) -> &'static str {
        PASSWORD
    }

    /// A file holding [`Postgres::password`].
    pub fn password_file(&self) -> PathBuf {
        self.dir.join("pwfile")
    }

    /// `[data]` for the database at `url` (one of [`Postgres::create_database`]'s), its
    /// password from [`Postgres::password_file`], a connect timeout of one second.
    pub fn data_config(&self, url: &str) -> wicket::config::DataConfig {
        wicket::config::DataConfig {
            postgres: Some(wicket::config::PostgresConfig {
                url: url.to_owned(),
                password_file: Some(self.password_file()),
                password_env: None,
                connect_timeout: Duration::from_secs(1),
                pool_size: 10,
                ssl_mode: None,
                ca_file: None,
            }),
            ..wicket::config::DataConfig::default()
        }
    }

    /// `postgres://wicket@127.0.0.1:<port>/<database>` (no password: give
    /// [`Postgres::password`] apart, as `[data] password_file` or `password_env`).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://wicket@127.0.0.1:{}/{database}", self.port)
    }

    /// Whether the server is running (it may be starting).
    pub fn is_running(&self) -> bool {
        self.keeper.lock().unwrap().is_some()
    }

    /// Starts the server again on the same port and data (after [`Postgres::stop`] or
    /// [`Postgres::kill`]), and waits until it accepts connections.
    pub fn start_again(&self) {
        let mut keeper = self.keeper.lock().unwrap();
        assert!(keeper.is_none(), "the server is running");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut child = Command::new("sh");
            if let Some((uid, gid)) = self.user {
                child.uid(uid).gid(gid);
            }
            let mut child = child
                .arg("-c")
                .arg(KEEPER)
                .arg("keeper")
                .arg(&self.bin)
                .arg(&self.dir)
                .arg(self.port.to_string())
                .arg(if self.fsync { "on" } else { "off" })
                .current_dir(&self.dir)
                .stdin(Stdio::piped())
                .spawn()
                .expect("start the PostgreSQL keeper");
            let stdin = child.stdin.take().expect("the keeper's stdin");
            let mut started = Keeper { child, stdin };
            match self.wait_ready(&mut started, deadline) {
                Ok(()) => {
                    *keeper = Some(started);
                    return;
                }
                // A previous server's backends may still hold its shared memory after a kill.
                Err(exited) if exited && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(_) => panic!("PostgreSQL did not start; its log:\n{}", self.log()),
            }
        }
    }

    /// Waits until the server accepts connections: `Err(true)` if it exited first.
    fn wait_ready(&self, keeper: &mut Keeper, deadline: Instant) -> Result<(), bool> {
        while Instant::now() < deadline {
            if keeper.child.try_wait().ok().flatten().is_some() {
                return Err(true);
            }
            let ready = self
                .command("pg_isready")
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "wicket",
                    "-d",
                    "postgres",
                    "-p",
                ])
                .arg(self.port.to_string())
                .status()
                .is_ok_and(|status| status.success());
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(false)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Stops the server (a fast shutdown: connections are closed, nothing committed is lost)
    /// and waits until it has stopped.
    pub fn stop(&self) {
        self.end(b"keep\n");
    }

    /// Tells the keeper to stop the server (`line`: `keep\n` keeps its directory) and waits.
    fn end(&self, line: &[u8]) {
        let keeper = self.keeper.lock().unwrap().take();
        if let Some(mut keeper) = keeper {
            let _ = keeper.stdin.write_all(line);
            drop(keeper.stdin);
            let _ = keeper.child.wait();
        }
    }

    /// Kills the server's postmaster with `SIGKILL` (a crash: PostgreSQL recovers from its
    /// WAL on the next start) and waits for the keeper to notice.
    pub fn kill(&self) {
        let keeper = self.keeper.lock().unwrap().take();
        let Some(mut keeper) = keeper else { return };
        if let Some(pid) = self.postmaster_pid() {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        // The keeper's `kill -INT` now finds no server, and it exits.
        let _ = keeper.stdin.write_all(b"keep\n");
        drop(keeper.stdin);
        let _ = keeper.child.wait();
    }

    fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Creates a new, empty database (`wicket_<n>`) and returns its URL.
    pub fn create_database(&self) -> String {
        let name = format!(
            "wicket_{}",
            self.databases.fetch_add(1, Ordering::Relaxed) + 1
        );
        let output = self
            .command("createdb")
            .args(["-U", "wicket", "-h"])
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg(&name)
            .output()
            .expect("run createdb");
        assert!(
            output.status.success(),
            "createdb `{name}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.url(&name)
    }

    /// Runs `sql` in `database` as the superuser with `psql` (over the unix socket) and returns
    /// what it printed (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> String {
        self.try_psql(database, sql)
            .unwrap_or_else(|error| panic!("psql failed: {error}"))
    }

    /// [`Postgres::psql`], its error (what `psql` said) returned.
    pub fn try_psql(&self, database: &str, sql: &str) -> Result<String, String> {
        let output = self
            .command("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "wicket",
                "-h",
            ])
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-d", database, "-c", sql])
            .output()
            .expect("run psql");
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The keeper stops the server and removes its directory.
        self.end(b"");
        if !self.is_running() && self.dir.exists() {
            // Stopped (or killed) before: no keeper left to remove it.
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One server shared by every test of a test binary (each test makes its own database with
/// [`Postgres::create_database`]); stopped and removed when the test process exits.
pub fn shared() -> &'static Postgres {
    static SHARED: OnceLock<Postgres> = OnceLock::new();
    SHARED.get_or_init(Postgres::start)
}
