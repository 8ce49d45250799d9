//! Credentials for a grant: a TokenRequest for its ServiceAccount and a kubeconfig holding the
//! token, rendered from kube-rs's serde `Kubeconfig` structs as YAML with `serde-saphyr` (the YAML
//! library kube-rs itself uses). Tokens and kubeconfigs are [`Secret`]s: their `Debug` is redacted.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jiff::Timestamp;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use secrecy::{ExposeSecret, SecretString};

use super::error::{ApiError, Error, Result, StepFailure};
use super::names::{
    Claim, FIELD_MANAGER, NAMESPACE_ANNOTATION, Owner, REQUEST_LABEL, object_name,
    validate_request_id,
};
use super::target::ClusterTarget;

/// The shortest token lifetime the Kubernetes API accepts (`expirationSeconds` minimum).
pub const MIN_TOKEN_SECONDS: u64 = 600;

/// A secret string (a token, a kubeconfig holding one). `Debug` prints `[redacted]`; read it with
/// [`Secret::expose`] only where it leaves the process towards its owner.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: String) -> Self {
        Self(SecretString::from(secret))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A credential for a grant: the ServiceAccount token and a kubeconfig holding it.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The bearer token.
    pub token: Secret,
    /// When the token itself expires (at least 10 minutes after issue; the grant may end sooner,
    /// since deleting the ServiceAccount invalidates the token).
    pub token_expires_at: Timestamp,
    /// The kubeconfig as YAML.
    pub kubeconfig: Secret,
    /// The name of the kubeconfig's only context, `<cluster>-<namespace>`.
    pub context: String,
    /// The namespace the context defaults to, if the grant has one.
    pub namespace: Option<String>,
}

impl ClusterTarget {
    /// Issues a fresh credential for the grant of `request_id`: a TokenRequest for its
    /// ServiceAccount (lifetime `max(ttl, 600 s)`) and a kubeconfig with one context named
    /// `<cluster>-<first granted namespace>` defaulting to that namespace. Fails unless the
    /// ServiceAccount exists and carries the request's label and `installation`'s labels for
    /// this cluster entry (or, made before those labels, none).
    #[tracing::instrument(skip(self), fields(cluster = %self.name))]
    pub async fn issue_credential(
        &self,
        installation: &str,
        request_id: &str,
        ttl: Duration,
    ) -> Result<Credential> {
        validate_request_id(request_id)?;
        let owner = Owner::new(installation, &self.name)?;
        let name = object_name(request_id);
        let credential_error = |source| Error::Credential {
            request_id: request_id.to_owned(),
            source,
        };
        let accounts: Api<ServiceAccount> =
            Api::namespaced(self.client.clone(), &self.jit_namespace);
        let account = accounts
            .get(&name)
            .await
            .map_err(|e| credential_error(ApiError::from(e).into()))?;
        let labels = account.metadata.labels.as_ref();
        let request = labels.and_then(|l| l.get(REQUEST_LABEL));
        if request.map(String::as_str) != Some(request_id) || owner.claim(labels) == Claim::Foreign
        {
            return Err(credential_error(StepFailure::Foreign));
        }
        let namespace = account
            .metadata
            .annotations
            .unwrap_or_default()
            .remove(NAMESPACE_ANNOTATION);
        self.mint(&name, namespace, ttl)
            .await
            .map_err(credential_error)
    }

    /// The TokenRequest and kubeconfig for ServiceAccount `name`.
    pub(crate) async fn mint(
        &self,
        name: &str,
        namespace: Option<String>,
        ttl: Duration,
    ) -> Result<Credential, StepFailure> {
        let accounts: Api<ServiceAccount> =
            Api::namespaced(self.client.clone(), &self.jit_namespace);
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(token_seconds(ttl)),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let params = PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.to_owned()),
        };
        let answer = accounts
            .create_token_request(name, &params, &request)
            .await
            .map_err(ApiError::from)?;
        let status = answer.status.ok_or(StepFailure::EmptyToken)?;
        let token = status
            .token
            .filter(|t| !t.is_empty())
            .ok_or(StepFailure::EmptyToken)?;
        let token_expires_at = status
            .expiration_timestamp
            .map(|t| t.0)
            .ok_or(StepFailure::EmptyToken)?;
        let token = Secret::new(token);
        let (kubeconfig, context) = render_kubeconfig(self, name, namespace.as_deref(), &token)
            .map_err(StepFailure::Render)?;
        Ok(Credential {
            token,
            token_expires_at,
            kubeconfig,
            context,
            namespace,
        })
    }
}

/// The token lifetime to ask for: the grant's ttl, at least the API minimum.
fn token_seconds(ttl: Duration) -> i64 {
    let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    i64::try_from(seconds.max(MIN_TOKEN_SECONDS)).unwrap_or(i64::MAX)
}

/// The kubeconfig for `user` holding `token`, and its context's name.
fn render_kubeconfig(
    target: &ClusterTarget,
    user: &str,
    namespace: Option<&str>,
    token: &Secret,
) -> Result<(Secret, String), serde_saphyr::SerializeError> {
    let context = match namespace {
        Some(ns) => format!("{}-{ns}", target.name),
        None => target.name.clone(),
    };
    let user_name = format!("{}-{user}", target.name);
    let config = Kubeconfig {
        api_version: Some("v1".to_owned()),
        kind: Some("Config".to_owned()),
        clusters: vec![NamedCluster {
            name: target.name.clone(),
            cluster: Some(Cluster {
                server: Some(target.endpoint.server.clone()),
                certificate_authority_data: target
                    .endpoint
                    .ca_pem
                    .as_ref()
                    .map(|pem| STANDARD.encode(pem)),
                ..Cluster::default()
            }),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: user_name.clone(),
            auth_info: Some(AuthInfo {
                token: Some(SecretString::from(token.expose().to_owned())),
                ..AuthInfo::default()
            }),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: context.clone(),
            context: Some(Context {
                cluster: target.name.clone(),
                user: Some(user_name),
                namespace: namespace.map(str::to_owned),
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(context.clone()),
        ..Kubeconfig::default()
    };
    let yaml = serde_saphyr::to_string(&config)?;
    Ok((Secret::new(yaml), context))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::cluster::target::Endpoint;

    #[rstest]
    #[case::short_grant(Duration::from_secs(30), 600)]
    #[case::exactly_minimum(Duration::from_secs(600), 600)]
    #[case::long_grant(Duration::from_secs(3600), 3600)]
    #[case::fraction_rounds_up(Duration::from_millis(3_600_500), 3601)]
    fn token_lifetime_is_at_least_the_api_minimum(#[case] ttl: Duration, #[case] seconds: i64) {
        assert_eq!(token_seconds(ttl), seconds);
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let s = Secret::new("eyJhbGciOi.secret.token".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
        let c = Credential {
            token: s.clone(),
            token_expires_at: Timestamp::UNIX_EPOCH,
            kubeconfig: Secret::new("users: [{user: {token: eyJhbGciOi.secret.token}}]".into()),
            context: "dev-payments".into(),
            namespace: Some("payments".into()),
        };
        assert!(!format!("{c:?}").contains("secret.token"));
        assert_eq!(s.expose(), "eyJhbGciOi.secret.token");
    }

    fn target() -> ClusterTarget {
        let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let endpoint = Endpoint {
            server: "https://k8s.example.com:6443".into(),
            ca_pem: Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()),
        };
        ClusterTarget::new("prod".into(), client, "wicket-system".into(), endpoint).unwrap()
    }

    #[tokio::test]
    async fn the_kubeconfig_has_one_context_for_the_first_namespace() {
        let token = Secret::new("tok-123".into());
        let (yaml, context) =
            render_kubeconfig(&target(), "wicket-r1", Some("payments"), &token).unwrap();
        assert_eq!(context, "prod-payments");
        let parsed = Kubeconfig::from_yaml(yaml.expose()).unwrap();
        assert_eq!(parsed.current_context.as_deref(), Some("prod-payments"));
        assert_eq!(parsed.contexts.len(), 1);
        let ctx = parsed.contexts[0].context.as_ref().unwrap();
        assert_eq!(ctx.namespace.as_deref(), Some("payments"));
        assert_eq!(ctx.cluster, "prod");
        let cluster = parsed.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(
            cluster.server.as_deref(),
            Some("https://k8s.example.com:6443")
        );
        let ca = STANDARD
            .decode(cluster.certificate_authority_data.as_deref().unwrap())
            .unwrap();
        assert!(
            String::from_utf8(ca)
                .unwrap()
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        let user = parsed.auth_infos[0].auth_info.as_ref().unwrap();
        assert_eq!(user.token.as_ref().unwrap().expose_secret(), "tok-123");
        assert_eq!(
            ctx.user.as_deref(),
            Some(parsed.auth_infos[0].name.as_str())
        );
    }

    #[tokio::test]
    async fn a_cluster_only_grant_gets_a_context_without_namespace() {
        let token = Secret::new("tok".into());
        let (yaml, context) = render_kubeconfig(&target(), "wicket-r1", None, &token).unwrap();
        assert_eq!(context, "prod");
        let parsed = Kubeconfig::from_yaml(yaml.expose()).unwrap();
        assert_eq!(parsed.contexts[0].context.as_ref().unwrap().namespace, None);
    }
}
