//! Test certificates (rcgen): certificate authorities, server certificates for `127.0.0.1`,
//! client certificates, and HTTPS clients trusting one authority.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// Its certificate, PEM.
    pub pem: String,
}

/// A certificate signed by a [`Ca`], with its key.
pub struct Leaf {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// The certificate, DER: what a client sees served.
    pub der: Vec<u8>,
}

impl Ca {
    /// A new authority named `name`.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("a CA certificate");
        Self {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// A server certificate for `127.0.0.1` and `localhost`, named `name`.
    pub fn server(&self, name: &str) -> Leaf {
        self.leaf(
            name,
            vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate named `name`.
    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(name, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, name: &str, sans: Vec<String>, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::new(sans).expect("certificate parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("a signed certificate");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

impl Leaf {
    /// The certificate and key as a client identity.
    pub fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert_pem, self.key_pem).as_bytes())
            .expect("a client identity")
    }
}

/// An HTTPS client trusting `ca` only, presenting `identity` if given, opening a new
/// connection for every request and reporting the served certificate
/// ([`served_certificate`]). It resumes its TLS sessions, which keep the certificate of their
/// first handshake: see a newly served certificate with a new client.
pub fn client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(ca.pem.as_bytes()).expect("a CA certificate"),
        )
        .tls_info(true)
        .pool_max_idle_per_host(0);
    if let Some(identity) = identity {
        builder = builder.identity(identity.identity());
    }
    builder.build().expect("an HTTPS client")
}

/// The certificate the server presented for `response` (DER).
pub fn served_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("a TLS response names the served certificate")
        .to_vec()
}
