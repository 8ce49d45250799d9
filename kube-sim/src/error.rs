//! Errors raised while starting or running the simulator (not API errors: those are [`crate::status::ApiError`]).

/// Why kube-sim could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The certificate authority or the serving certificate could not be generated.
    #[error("cannot generate the serving certificates")]
    Certificate(#[source] rcgen::Error),
    /// rustls refused the generated certificate or key.
    #[error("cannot configure TLS")]
    Tls(#[source] rustls::Error),
    /// The service-account token signing key could not be generated.
    #[error("cannot generate the token signing key")]
    SigningKey,
    /// The listen address could not be bound.
    #[error("cannot listen on `{addr}`")]
    Bind {
        /// The address that was asked for.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig could not be rendered or written.
    #[error("cannot write the kubeconfig to `{path}`")]
    Kubeconfig {
        /// Where it should have gone.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig could not be serialised.
    #[error("cannot serialise the kubeconfig")]
    KubeconfigRender(#[source] serde_json::Error),
}

/// Result with [`Error`] as the default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
