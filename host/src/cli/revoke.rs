//! `wicket revoke --all | --cluster NAME | --subject ISSUER SUB --server URL`: the incident kill
//! switch, against a running Wicket (`POST /v1/revocations`), with an admin's token from
//! `WICKET_TOKEN` (never an argument: arguments show in process lists).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use reqwest::Url;
use serde_json::{Value, json};

use super::service::{fail, runtime};
use super::{Error, GlobalArgs, Result};

/// The environment variable holding the admin's bearer token.
const TOKEN_VAR: &str = "WICKET_TOKEN";

/// Arguments of `wicket revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// Which requests to revoke.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// The running Wicket, e.g. `https://wicket.example.com`.
    #[arg(long, env = "WICKET", value_name = "URL")]
    pub server: String,
    /// A CA certificate (PEM) to trust for the server, besides the system's roots.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

/// Exactly one scope.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ScopeArgs {
    /// Revoke every live request.
    #[arg(long)]
    pub all: bool,
    /// Revoke every live request for this cluster.
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Revoke every live request of this subject (`sub`) of this issuer (`iss`).
    #[arg(long, num_args = 2, value_names = ["ISSUER", "SUB"])]
    pub subject: Option<Vec<String>>,
}

impl ScopeArgs {
    /// The request body: `{"all":true}`, `{"cluster":…}` or `{"subject":{"issuer","sub"}}`.
    fn body(&self) -> Value {
        match (&self.subject, &self.cluster) {
            (Some(subject), _) => json!({"subject": {"issuer": subject[0], "sub": subject[1]}}),
            (None, Some(cluster)) => json!({"cluster": cluster}),
            (None, None) => json!({"all": true}),
        }
    }
}

/// Runs `wicket revoke`: exit code 0 when every request in scope ended, 1 when some could not
/// be revoked or were still in flight (it says which), 2 on bad input or a refused call.
pub fn run(_global: &GlobalArgs, args: RevokeArgs) -> Result<ExitCode> {
    let token = std::env::var(TOKEN_VAR)
        .ok()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::Invalid(format!("set `{TOKEN_VAR}` to an admin's bearer token")))?;
    let url = Url::parse(&args.server)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "`--server` `{}` must be an http or https URL",
                args.server
            ))
        })?;
    let endpoint = format!("{}/v1/revocations", url.as_str().trim_end_matches('/'));
    let mut client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &args.ca_file {
        let pem = std::fs::read(path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        let ca = reqwest::Certificate::from_pem(&pem).map_err(|_| {
            Error::Invalid(format!("`{}` is not a PEM certificate", path.display()))
        })?;
        client = client.add_root_certificate(ca);
    }
    let client = client
        .build()
        .map_err(|e| Error::Invalid(format!("cannot build an http client: {e}")))?;
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => return Ok(fail(&error, 1)),
    };
    let (status, answer) = runtime.block_on(async {
        let response = client
            .post(&endpoint)
            .bearer_auth(&token)
            .json(&args.scope.body())
            .send()
            .await
            .map_err(|e| Error::Invalid(format!("cannot reach `{url}`: {}", cause(&e))))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| Error::Invalid(format!("cannot read the answer of `{url}`: {e}")))?;
        Ok::<_, Error>((status, text))
    })?;
    let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = answer["error"]["message"].as_str().unwrap_or("no message");
        return Err(Error::Invalid(format!(
            "`{url}` answered {status}: {message}"
        )));
    }
    print!("{}", summary(&answer));
    let incomplete = ["failed", "in_flight"]
        .iter()
        .any(|list| answer[list].as_array().is_some_and(|l| !l.is_empty()));
    Ok(if incomplete {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The innermost cause of a client error (reqwest's own message says little).
fn cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// One line per request, then a count line.
fn summary(answer: &Value) -> String {
    let mut out = String::new();
    let list = |key: &str| answer[key].as_array().cloned().unwrap_or_default();
    for (key, label) in [
        ("revoked", "revoked"),
        ("ended", "ended before"),
        ("failed", "FAILED"),
        ("in_flight", "IN FLIGHT"),
    ] {
        for item in list(key) {
            let field = |name: &str| item[name].as_str().unwrap_or("-").to_owned();
            out.push_str(&format!(
                "{label}\t{}\t{}\t{}\t{}\t{}",
                field("id"),
                field("state"),
                field("cluster"),
                field("issuer"),
                field("subject"),
            ));
            if let Some(error) = item["error"].as_str() {
                out.push_str(&format!("\t{error}"));
            }
            out.push('\n');
        }
    }
    let count = |key: &str| list(key).len();
    out.push_str(&format!(
        "{} revoked, {} had already ended, {} failed, {} in flight\n",
        count("revoked"),
        count("ended"),
        count("failed"),
        count("in_flight")
    ));
    if count("failed") + count("in_flight") > 0 {
        out.push_str(
            "some requests in scope may still be live: run the command again (failed grants \
             stay active until they expire)\n",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> std::result::Result<RevokeArgs, clap::Error> {
        let cli = Cli::try_parse_from(
            ["wicket", "revoke", "--server", "http://127.0.0.1:1"]
                .iter()
                .chain(args),
        )?;
        match cli.command {
            Command::Revoke(args) => Ok(args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_scope_becomes_its_body() {
        assert_eq!(
            parse(&["--all"]).unwrap().scope.body(),
            json!({"all": true})
        );
        assert_eq!(
            parse(&["--cluster", "prod"]).unwrap().scope.body(),
            json!({"cluster": "prod"})
        );
        assert_eq!(
            parse(&["--subject", "https://idp.example.com", "mallory"])
                .unwrap()
                .scope
                .body(),
            json!({"subject": {"issuer": "https://idp.example.com", "sub": "mallory"}})
        );
    }

    #[test]
    fn exactly_one_scope_is_required() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--all", "--cluster", "prod"]).is_err());
        assert!(parse(&["--subject", "https://idp.example.com"]).is_err());
    }

    #[test]
    fn the_summary_lists_each_request_and_counts() {
        let answer = json!({
            "revoked": [{"id": "r1", "state": "revoked", "cluster": "dev", "issuer": "i", "subject": "alice"}],
            "ended": [],
            "failed": [{"id": "r2", "state": "active", "cluster": "dev", "issuer": "i", "subject": "bob",
                        "error": "cluster `dev` could not tear the grant down"}],
            "in_flight": [],
        });
        let text = summary(&answer);
        assert!(
            text.contains("revoked\tr1\trevoked\tdev\ti\talice\n"),
            "{text}"
        );
        assert!(
            text.contains("FAILED\tr2\tactive\tdev\ti\tbob\tcluster `dev`"),
            "{text}"
        );
        assert!(
            text.contains("1 revoked, 0 had already ended, 1 failed, 0 in flight"),
            "{text}"
        );
        assert!(text.contains("run the command again"), "{text}");
    }
}
