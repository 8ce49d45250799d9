//! HTTPS for the API (rustls, ring): the certificate and key files re-read every
//! `reload_interval` (a changed valid pair serves new connections; a bad one is refused,
//! logged and counted while the previous pair keeps serving), optional client certificates,
//! and a listener whose handshakes run beside the accept loop under a deadline.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsConfig;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; more connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;

/// Why TLS could not be set up, or a changed certificate was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file holds no usable PEM certificate.
    #[error("`{path}` holds no PEM certificate")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// Why, when the PEM itself is malformed.
        #[source]
        source: Option<rustls::pki_types::pem::Error>,
    },
    /// The key file holds no private key the crypto provider accepts.
    #[error("`{path}` holds no usable private key")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The key is not the certificate's.
    #[error("the key in `{key}` does not belong to the first certificate in `{cert}`")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The client CA file could not be turned into a verifier.
    #[error("`{path}` cannot verify client certificates")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// rustls refused the configuration.
    #[error("cannot configure TLS")]
    Config(#[source] rustls::Error),
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// TLS for the API listener.
#[derive(Debug, Clone)]
pub struct Tls {
    server: Arc<ServerConfig>,
    cert: Arc<ServingCert>,
    interval: Duration,
}

impl Tls {
    /// Reads the certificate, key and client CA files of `config` and builds the server
    /// configuration: TLS 1.2 and 1.3, HTTP/1.1.
    pub async fn load(config: &TlsConfig) -> Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let files = Files {
            cert: config.cert_file.clone(),
            key: config.key_file.clone(),
        };
        let pair = files.read().await?;
        let key = files.parse(&pair, &provider)?;
        let cert = Arc::new(ServingCert {
            current: ArcSwap::from_pointee(key),
            fingerprint: std::sync::Mutex::new(pair.fingerprint),
            files,
            provider: provider.clone(),
            loaded: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(Error::Config)?;
        let builder = match &config.client_ca_file {
            Some(path) => {
                let verifier = client_verifier(path, provider).await?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut server = builder.with_cert_resolver(cert.clone());
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            server: Arc::new(server),
            cert,
            interval: config.reload_interval,
        })
    }

    /// Re-reads the certificate and key files every `reload_interval` until the task is
    /// aborted.
    pub fn watch(&self) -> JoinHandle<()> {
        let cert = self.cert.clone();
        let interval = self.interval;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                cert.reload().await;
            }
        })
    }

    /// Accepts TLS connections on `listener`.
    pub fn listen(&self, listener: TcpListener) -> io::Result<TlsListener> {
        TlsListener::new(listener, TlsAcceptor::from(self.server.clone()))
    }

    /// Registers the reload counters for one scrape.
    pub fn register_metrics(&self, registry: &mut Registry) {
        let reloads = Family::<[(&'static str, &'static str); 1], Counter>::default();
        for (result, count) in [
            ("loaded", &self.cert.loaded),
            ("refused", &self.cert.refused),
        ] {
            reloads
                .get_or_create(&[("result", result)])
                .inc_by(count.load(Ordering::Relaxed));
        }
        registry.register(
            "wicket_tls_certificate_reloads",
            "Changed TLS certificate or key files, by result (a refused pair leaves the previous one serving)",
            reloads,
        );
    }
}

async fn read(path: &Path) -> Result<Vec<u8>> {
    tokio::fs::read(path).await.map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

async fn client_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let pem = read(path).await?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|source| Error::Certificate {
            path: path.to_owned(),
            source: Some(source),
        })?;
        roots.add(cert).map_err(|source| Error::ClientCa {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
    }
    if roots.is_empty() {
        return Err(Error::Certificate {
            path: path.to_owned(),
            source: None,
        });
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|source| Error::ClientCa {
            path: path.to_owned(),
            source: Box::new(source),
        })
}

/// The certificate and key files.
#[derive(Debug)]
struct Files {
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    /// Reads both files, with a digest of their contents.
    async fn read(&self) -> Result<Pair> {
        let cert = read(&self.cert).await?;
        let key = read(&self.key).await?;
        let fingerprint = Sha256::new()
            .chain_update((cert.len() as u64).to_be_bytes())
            .chain_update(&cert)
            .chain_update(&key)
            .finalize()
            .into();
        Ok(Pair {
            fingerprint,
            cert,
            key,
        })
    }

    /// The certificate chain and key of `pair`, checked to belong together.
    fn parse(&self, pair: &Pair, provider: &CryptoProvider) -> Result<CertifiedKey> {
        let no_certificate = |source| Error::Certificate {
            path: self.cert.clone(),
            source,
        };
        let chain = CertificateDer::pem_slice_iter(&pair.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| no_certificate(Some(e)))?;
        if chain.is_empty() {
            return Err(no_certificate(None));
        }
        let bad_key = |source: Box<dyn std::error::Error + Send + Sync>| Error::Key {
            path: self.key.clone(),
            source,
        };
        let key = PrivateKeyDer::from_pem_slice(&pair.key).map_err(|e| bad_key(Box::new(e)))?;
        let key = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| bad_key(Box::new(e)))?;
        let certified = CertifiedKey::new(chain, key);
        // Unlike `CertifiedKey::from_der`, a key whose public half cannot be compared is refused.
        certified.keys_match().map_err(|_| Error::Mismatch {
            cert: self.cert.clone(),
            key: self.key.clone(),
        })?;
        Ok(certified)
    }
}

/// What the certificate and key files held.
struct Pair {
    fingerprint: [u8; 32],
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// The certificate served now, and how it is replaced.
#[derive(Debug)]
struct ServingCert {
    current: ArcSwap<CertifiedKey>,
    /// A digest of what the files held (or of why they could not be read) at the last look:
    /// a pair is checked, and a failure logged, once per change.
    fingerprint: std::sync::Mutex<[u8; 32]>,
    files: Files,
    provider: Arc<CryptoProvider>,
    loaded: AtomicU64,
    refused: AtomicU64,
}

impl ServingCert {
    async fn reload(&self) {
        let pair = self.files.read().await;
        let fingerprint = match &pair {
            Ok(pair) => pair.fingerprint,
            Err(error) => Sha256::digest(chain(error)).into(),
        };
        if !self.see(fingerprint) {
            return;
        }
        match pair.and_then(|pair| self.files.parse(&pair, &self.provider)) {
            Ok(key) => {
                self.current.store(Arc::new(key));
                self.loaded.fetch_add(1, Ordering::Relaxed);
                tracing::info!(cert = %self.files.cert.display(), "tls certificate reloaded");
            }
            Err(error) => self.refuse(&error),
        }
    }

    /// Records `fingerprint` as seen; `true` when it differs from the previous look.
    fn see(&self, fingerprint: [u8; 32]) -> bool {
        let mut last = self
            .fingerprint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::replace(&mut *last, fingerprint) != fingerprint
    }

    fn refuse(&self, error: &Error) {
        self.refused.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            error = %chain(error),
            "tls certificate reload refused; the previous certificate keeps serving"
        );
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// An error and its causes, joined by `: `.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// TLS connections of a TCP listener, handshaken beside the accept loop (at most
/// [`MAX_HANDSHAKES`] at once, each within [`HANDSHAKE_TIMEOUT`]), so a slow client
/// delays nobody else.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    fn new(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (done, ready) = mpsc::channel(64);
        let accepting = tokio::spawn(accept_loop(listener, acceptor, done));
        Ok(Self {
            ready,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    done: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let mut handshakes = JoinSet::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, done) = (acceptor.clone(), done.clone());
        handshakes.spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = done.send((tls, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "tls handshake failed"),
                Err(_) => tracing::debug!(%peer, "tls handshake timed out"),
            }
        });
        while handshakes.try_join_next().is_some() {}
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}
