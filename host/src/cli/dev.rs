//! `wicket dev`: kube-sim, SQLite and the shipped policies in one process, with a ready token
//! and copy-paste commands; `wicket dev token` mints more tokens for a running `wicket dev`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::service::{bind, fail, runtime, serve, start};
use super::{GlobalArgs, Result};
use crate::config::{DEFAULT_MAX_TOKEN_LIFETIME, duration};
use crate::dev::{self, DevEnvironment, ExtraPolicy};
use crate::policy::OnDeny;

/// Arguments of `wicket dev`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DevArgs {
    /// Mint a token instead of starting the environment.
    #[command(subcommand)]
    pub command: Option<DevCommand>,
    /// Where state, the signing key and the generated files live; must be yours alone
    /// [default: $XDG_STATE_HOME/wicket/dev or ~/.local/state/wicket/dev].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The address the API listens on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// A policy module of yours to add to the `dev` chain, after the shipped ones, for this run
    /// (repeat for several, in order); its settings from a JSON file after `=`. The entry is
    /// named after the file (`on-call.wasm` is `on-call`); rebuilding the file reloads it.
    #[arg(long = "policy", value_name = "MODULE.wasm[=SETTINGS.json]")]
    pub policies: Vec<String>,
}

/// The `wicket dev` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    /// Prints a development token accepted by `wicket dev` running on the same data directory.
    Token(TokenArgs),
}

/// Arguments of `wicket dev token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The token's subject.
    #[arg(long)]
    pub sub: String,
    /// A group of the subject, as the token carries it (repeat for several); policies and the
    /// configuration see it as `dev:<group>`.
    #[arg(long = "group")]
    pub groups: Vec<String>,
    /// How long the token is valid, e.g. `1h` (at most 24 h: the dev issuer's
    /// `max_token_lifetime`).
    #[arg(long, default_value = "12h")]
    pub ttl: String,
    /// The data directory of the running `wicket dev` [default: $XDG_STATE_HOME/wicket/dev or
    /// ~/.local/state/wicket/dev].
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// `$XDG_STATE_HOME/wicket/dev` or `~/.local/state/wicket/dev`: the user's own, never the
/// shared temporary directory (where another user could have planted a signing key).
fn default_data() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .filter(|home| home.is_absolute())
                .map(|home| home.join(".local").join("state"))
        })?;
    Some(state.join("wicket").join("dev"))
}

/// `--data`, or the default; `None` (after saying why) when there is no default.
fn data_dir(data: Option<PathBuf>) -> Option<PathBuf> {
    let data = data.or_else(default_data);
    if data.is_none() {
        eprintln!("error: neither `XDG_STATE_HOME` nor `HOME` is set; give `--data`");
    }
    data
}

/// Runs `wicket dev` or `wicket dev token`.
pub fn run(global: &GlobalArgs, args: DevArgs) -> Result<ExitCode> {
    if let Some(DevCommand::Token(token)) = args.command {
        return Ok(mint(token));
    }
    let extra: Result<Vec<_>, _> = args
        .policies
        .iter()
        .map(|a| ExtraPolicy::parse(a))
        .collect();
    let extra = match extra {
        Ok(extra) => extra,
        Err(error) => return Ok(fail(&error, 2)),
    };
    let Some(data) = data_dir(args.data) else {
        return Ok(ExitCode::from(2));
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => return Ok(fail(&error, 1)),
    };
    Ok(runtime.block_on(run_dev(global, &data, args.listen, &extra)))
}

fn mint(args: TokenArgs) -> ExitCode {
    if args.sub.trim().is_empty() {
        eprintln!("error: `--sub` must not be empty");
        return ExitCode::from(2);
    }
    let ttl = match duration::parse(&args.ttl) {
        Ok(ttl) if ttl > DEFAULT_MAX_TOKEN_LIFETIME => {
            eprintln!(
                "error: `--ttl` `{}` is longer than the {}h `wicket dev` accepts (its issuer's \
                 `max_token_lifetime`)",
                args.ttl,
                DEFAULT_MAX_TOKEN_LIFETIME.as_secs() / 3600
            );
            return ExitCode::from(2);
        }
        Ok(ttl) => i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        Err(message) => {
            eprintln!("error: `--ttl`: {message}");
            return ExitCode::from(2);
        }
    };
    let Some(data) = data_dir(args.data) else {
        return ExitCode::from(2);
    };
    let token = dev::secret(&data, false)
        .and_then(|secret| dev::mint(&secret, &args.sub, &args.groups, ttl));
    match token {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error, 2),
    }
}

async fn run_dev(
    global: &GlobalArgs,
    data: &Path,
    listen: SocketAddr,
    extra: &[ExtraPolicy],
) -> ExitCode {
    let env = match DevEnvironment::start(data, listen, extra).await {
        Ok(env) => env,
        Err(error) => return fail(&error, 1),
    };
    let listeners = match bind(&env.config).await {
        Ok(listeners) => listeners,
        Err(code) => return code,
    };
    let service = match start(global, &env.config, &env.written.path).await {
        Ok(service) => service,
        Err(code) => return code,
    };
    let token = match env.token("alice", &["sre".to_owned()], 12 * 3600) {
        Ok(token) => token,
        Err(error) => return fail(&error, 1),
    };
    let addr = listeners.api.local_addr().unwrap_or(listen);
    print!("{}", instructions(&env, addr, &token));
    serve(&service, listeners).await
}

/// What `wicket dev` prints: where things are, a token, and commands that work as printed.
fn instructions(env: &DevEnvironment, addr: SocketAddr, token: &str) -> String {
    let data = env.data.display();
    let kubeconfig = format!("{data}/alice.kubeconfig");
    let body = r#"{"cluster":"dev","namespaces":["payments"],"role":"edit","duration":"30m","reason":"INC-123: payments are failing"}"#;
    format!(
        "wicket dev: ready
  api       http://{addr}  (OpenAPI at /openapi.json)
  cluster   `dev`: kube-sim at {server}  (admin kubeconfig: {data}/admin.kubeconfig)
  data      {data}  (SQLite, signing key, the configuration)
  config    {config}  ({edits})
  policies  {chain}

# A token for `alice` in group `sre` (`dev:sre` to policies), valid for 12 hours (more: wicket dev token --sub bob --group developers --data {data})
export WICKET=http://{addr}
export WICKET_TOKEN={token}
# Ask for `edit` in `payments` for 30 minutes; the answer is the request, `active` when allowed
ID=$(curl -sS -X POST \"$WICKET/v1/requests\" -H \"Authorization: Bearer $WICKET_TOKEN\" -H 'Content-Type: application/json' -d '{body}' | grep -o '\"id\":\"[0-9a-f]*\"' | head -n 1 | cut -d '\"' -f 4)
# Fetch a kubeconfig for it and use it with kubectl
curl -sS \"$WICKET/v1/requests/$ID/kubeconfig\" -H \"Authorization: Bearer $WICKET_TOKEN\" -o {kubeconfig}
kubectl --kubeconfig {kubeconfig} get pods -n payments
kubectl --kubeconfig {kubeconfig} auth can-i delete pods -n kube-system
# End the access early
curl -sS -X POST \"$WICKET/v1/requests/$ID/revoke\" -H \"Authorization: Bearer $WICKET_TOKEN\"
# (end of commands)
",
        server = env.sim.url(),
        config = env.written.path.display(),
        edits = if env.written.kept_edits {
            "your edits, kept; delete it to get the generated one back"
        } else {
            "generated; edit it and your edits are kept at the next start"
        },
        chain = chain(env),
    )
}

/// The `dev` chain in order: each entry's name, module and what stands out about it.
fn chain(env: &DevEnvironment) -> String {
    let Some(cluster) = env.config.clusters.iter().find(|c| c.name == dev::CLUSTER) else {
        return "(no cluster `dev`)".to_owned();
    };
    let shipped = env.data.join("policies");
    let entries: Vec<String> = cluster
        .policies
        .iter()
        .map(|entry| {
            let module = match entry.module.strip_prefix(&shipped) {
                Ok(file) => file.display().to_string(),
                Err(_) => entry.module.display().to_string(),
            };
            let mut notes = vec![module];
            if entry.on_deny == OnDeny::Stop {
                notes.push("a gate: its deny ends the chain".to_owned());
            }
            if env.written.added.contains(&entry.name) {
                notes.push("--policy".to_owned());
            }
            format!("{} ({})", entry.name, notes.join("; "))
        })
        .collect();
    entries.join(" -> ")
}
