//! A cluster Wicket provisions on: its kube client, its JIT namespace, and the server URL and CA
//! written into the kubeconfigs it issues.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::discovery::DiscoveryCache;
use super::error::{Error, Result};
use super::names::validate_namespace;
use crate::guard::DEFAULT_JIT_NAMESPACE;

/// How long one API call may take before it fails (and provisioning rolls back).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How Wicket reaches a cluster's API server with its own identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// A kubeconfig file; `context` `None` means its current context.
    Kubeconfig {
        /// The kubeconfig file.
        path: PathBuf,
        /// The context to use.
        context: Option<String>,
    },
    /// The pod's own ServiceAccount (Wicket running inside the cluster).
    InCluster,
}

/// Where holders of an issued kubeconfig reach the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The API server URL, e.g. `https://k8s.example.com:6443`.
    pub server: String,
    /// The PEM of the CA that signed the API server's certificate; `None` to rely on the
    /// system's trust roots.
    pub ca_pem: Option<String>,
}

/// The settings of one target cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSettings {
    /// The cluster's name as configured in Wicket (it names contexts of issued kubeconfigs).
    pub name: String,
    /// How Wicket connects.
    pub connection: Connection,
    /// The namespace for JIT ServiceAccounts ([`DEFAULT_JIT_NAMESPACE`] if `None`).
    pub jit_namespace: Option<String>,
    /// The endpoint written into issued kubeconfigs; `None` to reuse the one Wicket connects to.
    pub issued_endpoint: Option<Endpoint>,
    /// Timeout of one API call ([`DEFAULT_REQUEST_TIMEOUT`] if `None`).
    pub request_timeout: Option<Duration>,
}

impl TargetSettings {
    /// Settings with the defaults for everything but the name and connection.
    pub fn new(name: impl Into<String>, connection: Connection) -> Self {
        Self {
            name: name.into(),
            connection,
            jit_namespace: None,
            issued_endpoint: None,
            request_timeout: None,
        }
    }
}

/// A cluster Wicket provisions on.
#[derive(Clone)]
pub struct ClusterTarget {
    pub(crate) name: String,
    pub(crate) client: Client,
    pub(crate) jit_namespace: String,
    pub(crate) endpoint: Endpoint,
    pub(crate) discovery: DiscoveryCache,
}

impl std::fmt::Debug for ClusterTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterTarget")
            .field("name", &self.name)
            .field("jit_namespace", &self.jit_namespace)
            .field("endpoint", &self.endpoint.server)
            .finish_non_exhaustive()
    }
}

impl ClusterTarget {
    /// Loads the connection's configuration and builds a client. Nothing is sent to the cluster.
    pub async fn connect(settings: &TargetSettings) -> Result<Self> {
        let cluster = settings.name.clone();
        let mut config = match &settings.connection {
            Connection::Kubeconfig { path, context } => {
                let kubeconfig_error = |source| Error::Kubeconfig {
                    cluster: cluster.clone(),
                    path: path.clone(),
                    source,
                };
                let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
                let options = KubeConfigOptions {
                    context: context.clone(),
                    ..KubeConfigOptions::default()
                };
                Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(kubeconfig_error)?
            }
            Connection::InCluster => Config::incluster().map_err(|source| Error::InCluster {
                cluster: cluster.clone(),
                source,
            })?,
        };
        let endpoint = match &settings.issued_endpoint {
            Some(endpoint) => endpoint.clone(),
            None => endpoint_of(&cluster, &config)?,
        };
        config.read_timeout = Some(settings.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT));
        config.reset_reader_on_write = true;
        // kube-rs would retry 429/503/504 up to 15 times with backoff growing to minutes; a
        // provisioning step fails (and rolls back) instead, and the idempotent request is retried.
        config.default_retry = false;
        let client = Client::try_from(config).map_err(|source| Error::Client {
            cluster: cluster.clone(),
            source,
        })?;
        let jit_namespace = settings
            .jit_namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_JIT_NAMESPACE.to_owned());
        Self::new(cluster, client, jit_namespace, endpoint)
    }

    /// A target from a client built elsewhere.
    pub fn new(
        name: String,
        client: Client,
        jit_namespace: String,
        endpoint: Endpoint,
    ) -> Result<Self> {
        if name.is_empty() {
            return Err(Error::InvalidTarget {
                cluster: name,
                reason: "the cluster name is empty".into(),
            });
        }
        validate_namespace(&jit_namespace).map_err(|_| Error::InvalidTarget {
            cluster: name.clone(),
            reason: format!("`{jit_namespace}` is not a valid namespace name"),
        })?;
        if endpoint.server.is_empty() {
            return Err(Error::InvalidTarget {
                cluster: name,
                reason: "the issued server url is empty".into(),
            });
        }
        Ok(Self {
            name,
            client,
            jit_namespace,
            endpoint,
            discovery: DiscoveryCache::default(),
        })
    }

    /// The cluster's configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace JIT ServiceAccounts live in.
    pub fn jit_namespace(&self) -> &str {
        &self.jit_namespace
    }

    /// The endpoint written into issued kubeconfigs.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// The endpoint Wicket itself connects to, for issued kubeconfigs when none is configured.
fn endpoint_of(cluster: &str, config: &Config) -> Result<Endpoint> {
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_owned();
    let ca_pem = if let Some(ders) = &config.root_cert {
        Some(
            ders.iter()
                .map(|der| pem_certificate(der))
                .collect::<String>(),
        )
    } else if let Some(file) = &config.root_cert_file {
        let pem = std::fs::read_to_string(file).map_err(|e| Error::InvalidTarget {
            cluster: cluster.to_owned(),
            reason: format!("cannot read the ca file `{}`: {e}", file.display()),
        })?;
        Some(pem)
    } else {
        None
    };
    Ok(Endpoint { server, ca_pem })
}

/// A DER certificate as PEM.
fn pem_certificate(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_wraps_base64_at_64_columns() {
        let der = vec![7u8; 100];
        let pem = pem_certificate(&der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN CERTIFICATE-----"));
        assert_eq!(lines.last(), Some(&"-----END CERTIFICATE-----"));
        assert!(lines[1..lines.len() - 1].iter().all(|l| l.len() <= 64));
        let body: String = lines[1..lines.len() - 1].concat();
        assert_eq!(STANDARD.decode(body).unwrap(), der);
    }

    #[tokio::test]
    async fn a_missing_kubeconfig_names_the_file_and_cluster() {
        let settings = TargetSettings::new(
            "prod",
            Connection::Kubeconfig {
                path: "/nonexistent/kubeconfig".into(),
                context: None,
            },
        );
        let err = ClusterTarget::connect(&settings).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot load kubeconfig `/nonexistent/kubeconfig` for cluster `prod`"
        );
    }

    #[tokio::test]
    async fn the_issued_endpoint_defaults_to_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, include_str!("fixtures/admin-kubeconfig.yaml")).unwrap();
        let settings = TargetSettings::new(
            "dev",
            Connection::Kubeconfig {
                path,
                context: Some("sim-admin".into()),
            },
        );
        let target = ClusterTarget::connect(&settings).await.unwrap();
        assert_eq!(target.endpoint().server, "https://127.0.0.1:6443");
        let pem = target.endpoint().ca_pem.as_deref().unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(target.jit_namespace(), "wicket-jit");
        assert_eq!(target.name(), "dev");
    }

    #[tokio::test]
    async fn an_unknown_context_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, include_str!("fixtures/admin-kubeconfig.yaml")).unwrap();
        let settings = TargetSettings::new(
            "dev",
            Connection::Kubeconfig {
                path,
                context: Some("nope".into()),
            },
        );
        let err = ClusterTarget::connect(&settings).await.unwrap_err();
        assert!(matches!(err, Error::Kubeconfig { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn a_bad_jit_namespace_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, include_str!("fixtures/admin-kubeconfig.yaml")).unwrap();
        let mut settings = TargetSettings::new(
            "dev",
            Connection::Kubeconfig {
                path,
                context: Some("sim-admin".into()),
            },
        );
        settings.jit_namespace = Some("Wicket_System".into());
        let err = ClusterTarget::connect(&settings).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid settings for cluster `dev`: `Wicket_System` is not a valid namespace name"
        );
    }
}
