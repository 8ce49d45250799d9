//! `wicket dev`: the embedded environment a newcomer runs first. kube-sim on loopback (with
//! namespaces `payments`, `orders` and `kube-system`), state in SQLite in a data directory,
//! the shipped policies with sample settings, and a development signing key kept in the data
//! directory so that `wicket dev token` mints tokens the running service accepts.
//!
//! The configuration it runs, `<data>/wicket.toml`, is the user's to edit (an edited file is kept
//! at the next start), and `--policy` adds modules to the chain for one run (see
//! [`config_file`]).

pub mod config_file;
mod extra;

pub use extra::ExtraPolicy;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use kube_sim::KubeSim;
use serde_json::json;

use crate::cluster;
use crate::config::{self, Config};
use crate::guard::pod_security::ENFORCE_LABEL;
use crate::private_fs;

/// The issuer of development tokens.
pub const ISSUER: &str = "wicket-dev";
/// The audience of development tokens.
pub const AUDIENCE: &str = "wicket";
/// The cluster name of the simulated cluster.
pub const CLUSTER: &str = "dev";
/// The alias of the development issuer in the configuration (groups are `dev:<group>`).
pub const ISSUER_ALIAS: &str = "dev";
/// The namespaces kube-sim starts with.
pub const NAMESPACES: [&str; 6] = [
    "default",
    "kube-system",
    "kube-public",
    "payments",
    "orders",
    "wicket-system",
];
/// The file in the data directory holding the signing secret.
pub const SECRET_FILE: &str = "dev-signing-key";
/// The file in the data directory holding the audit anchors' key.
pub const AUDIT_KEY_FILE: &str = "audit-key";

/// How long Wicket's own ServiceAccount token lasts (kube-sim restarts with `wicket dev`).
const WICKET_TOKEN_SECONDS: i64 = 30 * 24 * 3600;

/// Why the development environment could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file in the data directory could not be written or read.
    #[error("cannot use `{path}`")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// There is no signing key: `wicket dev` has not run with this data directory.
    #[error("no development signing key in `{0}`; run `wicket dev` with this `--data` first")]
    NoKey(PathBuf),
    /// The data directory, or a file in it, is not the current user's alone.
    #[error("refusing the data directory: {0}")]
    NotPrivate(#[source] private_fs::Error),
    /// kube-sim did not start.
    #[error("cannot start kube-sim")]
    KubeSim(#[source] kube_sim::Error),
    /// The generated configuration is invalid (a bug).
    #[error("the generated configuration is invalid")]
    Config(#[source] config::Error),
    /// The user's edited configuration is invalid.
    #[error(
        "your edited `{path}` is invalid (fix it, or delete it to get the generated one back): {reason}"
    )]
    Edited {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, on one line.
        reason: String,
    },
    /// A `--policy` argument cannot be used.
    #[error("`--policy` `{arg}`: {reason}")]
    Policy {
        /// The argument as given.
        arg: String,
        /// Why.
        reason: String,
    },
    /// `--policy` was given, and the edited configuration has no `dev` cluster to add it to.
    #[error(
        "`--policy` needs the cluster `dev` (with its `[[clusters.policies]]`) in the configuration; your edited file has none"
    )]
    NoDevCluster,
    /// A token could not be signed.
    #[error("cannot sign a token")]
    Sign(#[source] jsonwebtoken::errors::Error),
    /// Wicket's RBAC could not be installed on kube-sim.
    #[error("cannot install wicket's rbac on kube-sim: {0}")]
    Install(String),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// The running simulated cluster and the configuration to serve it with.
#[derive(Debug)]
pub struct DevEnvironment {
    /// kube-sim, serving until dropped.
    pub sim: KubeSim,
    /// The configuration (also written to `<data>/wicket.toml`).
    pub config: Config,
    /// The configuration file as written: whether the user's edits were kept, the modules
    /// `--policy` added.
    pub written: config_file::Written,
    /// The data directory.
    pub data: PathBuf,
    secret: String,
}

/// The signing secret of `data`, created (64 random hex digits) if there is none yet. The
/// directory must be the current user's alone, and the key a file of theirs that nobody
/// else may write (a symbolic link there is refused, never followed).
pub fn secret(data: &Path, create: bool) -> Result<String> {
    private_data_dir(data)?;
    let path = data.join(SECRET_FILE);
    let existing = match private_fs::read_owned(&path) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).trim().to_owned()),
        Err(error) if error.is_not_found() => None,
        Err(error) => return Err(Error::NotPrivate(error)),
    };
    match existing {
        Some(secret) if !secret.is_empty() => Ok(secret),
        _ if !create => Err(Error::NoKey(data.to_owned())),
        _ => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("the operating system provides random bytes");
            let secret = hex::encode(bytes);
            write_private(&path, &secret)?;
            Ok(secret)
        }
    }
}

/// Creates the audit key of `data` (64 random hex digits, mode 0600) unless it has one.
fn audit_key(data: &Path) -> Result<()> {
    let path = data.join(AUDIT_KEY_FILE);
    match private_fs::read_secret(&path) {
        Ok(_) => Ok(()),
        Err(error) if error.is_not_found() => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("the operating system provides random bytes");
            write_private(&path, &hex::encode(bytes))
        }
        Err(error) => Err(Error::NotPrivate(error)),
    }
}

/// Creates `data` (mode 0700) if it does not exist, and refuses it unless the current user
/// owns it and nobody else may write it: another local user must not plant a signing key or
/// a configuration there.
pub fn private_data_dir(data: &Path) -> Result<()> {
    private_fs::ensure_dir(data).map_err(Error::NotPrivate)
}

/// Replaces `path` with `text`, mode 0600 from its creation; a symbolic link planted there is
/// replaced, never written through.
fn write_private(path: &Path, text: &str) -> Result<()> {
    private_fs::replace(path, text.as_bytes()).map_err(Error::NotPrivate)
}

/// A development token for `subject` in `groups`, valid for `ttl_seconds`.
pub fn mint(secret: &str, subject: &str, groups: &[String], ttl_seconds: i64) -> Result<String> {
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "groups": groups,
        "iat": now, "nbf": now, "exp": now + ttl_seconds,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(Error::Sign)
}

/// The sample namespaces grants may reach; they enforce Pod Security `baseline`, as Wicket
/// requires of a namespace where a grant may run pods.
pub const SAMPLE_NAMESPACES: [&str; 2] = ["payments", "orders"];

/// Installs Wicket as an operator would, with the admin credentials of `admin_kubeconfig`
/// (kube-sim's): `examples/deploy/wicket-rbac.yaml` (Wicket's ServiceAccount, its RBAC and the
/// bindable roles), and the Pod Security label `baseline` on each of `enforcing`.
pub async fn install_wicket(admin_kubeconfig: &str, enforcing: &[&str]) -> Result<()> {
    let install = |e: &dyn std::fmt::Display| Error::Install(e.to_string());
    let kubeconfig =
        kube::config::Kubeconfig::from_yaml(admin_kubeconfig).map_err(|e| install(&e))?;
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| install(&e))?;
    let client = kube::Client::try_from(config).map_err(|e| install(&e))?;
    cluster::apply(&client, CLUSTER, cluster::WICKET_RBAC)
        .await
        .map_err(|e| install(&e))?;
    let namespaces = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client);
    let label = json!({"metadata": {"labels": {ENFORCE_LABEL: "baseline"}}});
    for namespace in enforcing {
        namespaces
            .patch(
                namespace,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(&label),
            )
            .await
            .map_err(|e| install(&e))?;
    }
    Ok(())
}

impl DevEnvironment {
    /// Prepares `data` (policies, signing key, kube-sim CA and admin kubeconfig, the
    /// configuration, with `extra` appended to the `dev` chain) and starts kube-sim on
    /// loopback. `data` must be the current user's alone (see [`private_data_dir`]).
    pub async fn start(data: &Path, listen: SocketAddr, extra: &[ExtraPolicy]) -> Result<Self> {
        private_data_dir(data)?;
        let data = std::fs::canonicalize(data).map_err(io(data))?;
        let policies = data.join("policies");
        private_data_dir(&policies)?;
        for (name, bytes) in crate::embedded::ALL {
            let path = policies.join(format!("{}.wasm", name.replace('-', "_")));
            private_fs::replace(&path, bytes).map_err(Error::NotPrivate)?;
        }
        let secret = secret(&data, true)?;
        audit_key(&data)?;
        let sim = KubeSim::start(kube_sim::Config {
            namespaces: NAMESPACES.iter().map(|n| (*n).to_owned()).collect(),
            ..kube_sim::Config::default()
        })
        .await
        .map_err(Error::KubeSim)?;
        let admin = data.join("admin.kubeconfig");
        let admin_text = sim.kubeconfig("kube-sim").map_err(Error::KubeSim)?;
        write_private(&admin, &admin_text)?;
        // Wicket runs as production runs it: the ServiceAccount of the shipped RBAC.
        install_wicket(&admin_text, &SAMPLE_NAMESPACES).await?;
        let (namespace, name) = cluster::WICKET_ACCOUNT;
        let token = sim
            .token_for(namespace, name, WICKET_TOKEN_SECONDS)
            .ok_or_else(|| Error::Install("no ServiceAccount for wicket".to_owned()))?;
        let wicket = data.join("wicket.kubeconfig");
        let wicket_text = sim
            .kubeconfig_with_token("wicket", &token)
            .map_err(Error::KubeSim)?;
        write_private(&wicket, &wicket_text)?;
        let ca = data.join("kube-sim-ca.pem");
        write_private(&ca, sim.ca_pem())?;
        let written = config_file::write(
            &config_file::StartValues {
                listen: &listen.to_string(),
                data: &data,
                secret: &secret,
                server: &sim.url(),
            },
            extra,
        )?;
        let file = written.path.display().to_string();
        let config = Config::parse(&written.text, &file, &data).map_err(|error| {
            if written.kept_edits {
                Error::Edited {
                    path: written.path.clone(),
                    reason: error
                        .to_string()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                }
            } else {
                Error::Config(error)
            }
        })?;
        Ok(Self {
            sim,
            config,
            written,
            data,
            secret,
        })
    }

    /// A development token for `subject` in `groups`, valid for `ttl_seconds`.
    pub fn token(&self, subject: &str, groups: &[String], ttl_seconds: i64) -> Result<String> {
        mint(&self.secret, subject, groups, ttl_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn prepares_a_valid_configuration_and_a_reusable_key() {
        let dir = tempfile::tempdir().unwrap();
        let env = DevEnvironment::start(dir.path(), "127.0.0.1:0".parse().unwrap(), &[])
            .await
            .unwrap();
        assert_eq!(env.config.clusters[0].name, CLUSTER);
        let names: Vec<&str> = env.config.clusters[0]
            .policies
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["groups", "window", "tickets"]);
        assert!(
            env.config.clusters[0]
                .policies
                .iter()
                .all(|p| p.module.is_file())
        );
        let audit = env
            .config
            .audit
            .as_ref()
            .expect("dev anchors its audit log");
        crate::audit::AnchorKey::load(&audit.key_file).expect("a private key of 32 bytes");
        assert_eq!(audit.anchor_file, env.data.join("audit-anchors.jsonl"));
        let again = secret(&env.data, false).unwrap();
        assert_eq!(again, env.secret, "`wicket dev token` finds the same key");
        let token = env.token("alice", &["sre".to_owned()], 60).unwrap();
        let auth = crate::auth::Authenticator::new(&env.config.issuers).unwrap();
        let identity = auth.verify(&token).await.unwrap();
        assert_eq!(
            identity.groups,
            ["dev:sre"],
            "the dev issuer's alias qualifies"
        );
        let missing = tempfile::tempdir().unwrap();
        assert!(matches!(
            secret(missing.path(), false),
            Err(Error::NoKey(_))
        ));
    }

    /// A data directory another local user prepared (owned by them, or open to everyone's
    /// writes) with a signing key of their choosing is refused, not trusted.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_data_directory_another_user_controls_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;

        let root = tempfile::tempdir().unwrap();
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::write(open.join(SECRET_FILE), "planted").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let foreign = root.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join(SECRET_FILE), "planted").unwrap();
        let mut refused = vec![(open, "can be written by other users")];
        match std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)) {
            Ok(()) => refused.push((foreign, "is owned by uid 65534")),
            Err(error) => eprintln!("not root ({error}): the foreign-owner case is skipped"),
        }
        for (dir, reason) in refused {
            let error = secret(&dir, false).unwrap_err();
            assert!(matches!(error, Error::NotPrivate(_)), "{error:?}");
            let started = DevEnvironment::start(&dir, "127.0.0.1:0".parse().unwrap(), &[])
                .await
                .unwrap_err();
            let line = started.to_string();
            assert!(
                line.starts_with("refusing the data directory: `") && line.contains(reason),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
    }

    /// A symbolic link planted where the signing key or a generated file goes is never
    /// followed: no key is read through it, and nothing is written through it.
    #[cfg(unix)]
    #[tokio::test]
    async fn planted_symbolic_links_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        private_data_dir(&data).unwrap();
        let elsewhere = root.path().join("elsewhere");
        std::fs::write(&elsewhere, "the attacker's key").unwrap();
        std::os::unix::fs::symlink(&elsewhere, data.join(SECRET_FILE)).unwrap();
        for create in [false, true] {
            let error = secret(&data, create).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("dev-signing-key` is a symbolic link"),
                "{error:?}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(&elsewhere).unwrap(),
            "the attacker's key"
        );

        std::fs::remove_file(data.join(SECRET_FILE)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, data.join("wicket.toml")).unwrap();
        let env = DevEnvironment::start(&data, "127.0.0.1:0".parse().unwrap(), &[])
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&elsewhere).unwrap(),
            "the attacker's key"
        );
        let written = env.data.join("wicket.toml");
        assert!(std::fs::symlink_metadata(&written).unwrap().is_file());
        assert_ne!(env.secret, "the attacker's key");
    }
}
