//! The simulator's own certificate authority and serving certificate (SANs 127.0.0.1, localhost).

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, Result};

/// A CA and a serving certificate signed by it.
#[derive(Debug)]
pub struct Certs {
    /// PEM of the CA certificate (what kubeconfigs trust).
    pub ca_pem: String,
    /// rustls server configuration (ALPN h2 and http/1.1).
    pub server_config: Arc<ServerConfig>,
}

/// Generates a fresh CA and a serving certificate for `extra_sans` plus 127.0.0.1 and localhost.
pub fn generate(extra_sans: &[String]) -> Result<Certs> {
    let ca_key = KeyPair::generate().map_err(Error::Certificate)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(Error::Certificate)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kube-sim-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(Error::Certificate)?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let mut sans = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    sans.extend(extra_sans.iter().cloned());
    let server_key = KeyPair::generate().map_err(Error::Certificate)?;
    let mut params = CertificateParams::new(sans).map_err(Error::Certificate)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let server_cert = params
        .signed_by(&server_key, &issuer)
        .map_err(Error::Certificate)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::Tls)?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(server_cert.der().to_vec()),
                CertificateDer::from(ca_cert.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        )
        .map_err(Error::Tls)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Certs {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(config),
    })
}
