//! `[tls]`, `[metrics]` and the rules for where Wicket may listen in clear: a non-loopback
//! address speaks TLS unless `insecure_http = true`, and `dev = true` listens on loopback only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::duration;

/// `[tls]`: the API speaks HTTPS with this certificate.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's certificate first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the first certificate.
    pub key_file: PathBuf,
    /// PEM CA certificates: when set, clients must present a certificate one of them signed.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// How often the certificate and key files are re-read; a changed, valid pair replaces
    /// the served one for new connections.
    #[serde(
        default = "default_reload_interval",
        deserialize_with = "duration::deserialize"
    )]
    pub reload_interval: Duration,
}

fn default_reload_interval() -> Duration {
    Duration::from_secs(10)
}

impl TlsConfig {
    /// The files this section names, to resolve against the configuration's directory.
    pub(super) fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        [&mut self.cert_file, &mut self.key_file]
            .into_iter()
            .chain(self.client_ca_file.as_mut())
    }
}

/// `[metrics]`: who may read `/metrics`, and where. Without either key `/metrics` is not
/// served at all.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// A file holding the bearer token `/metrics` asks for, on the API listener and on
    /// `listen` alike.
    pub token_file: Option<PathBuf>,
    /// A separate plain-HTTP listener that serves `/metrics` only.
    pub listen: Option<SocketAddr>,
}

/// The listeners of a configuration, checked together.
pub(super) struct Listeners<'a> {
    pub listen: SocketAddr,
    pub dev: bool,
    pub insecure_http: bool,
    pub tls: Option<&'a TlsConfig>,
    pub metrics: &'a MetricsConfig,
}

fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

impl Listeners<'_> {
    /// Refuses an API in clear off loopback (unless `insecure_http`), any non-loopback
    /// listener in development mode, and a plain-HTTP metrics listener off loopback (unless
    /// `insecure_http`).
    pub fn check(&self) -> Result<(), String> {
        let addresses = [
            ("listen", Some(self.listen)),
            ("metrics.listen", self.metrics.listen),
        ];
        for (key, addr) in addresses {
            let Some(addr) = addr.filter(|addr| !is_loopback(*addr)) else {
                continue;
            };
            if self.dev {
                return Err(format!(
                    "`{key}` `{addr}` is not a loopback address: with `dev = true` Wicket \
                     listens on loopback only"
                ));
            }
            let clear = key == "metrics.listen" || self.tls.is_none();
            if clear && !self.insecure_http {
                let remedy = if key == "listen" {
                    "configure `[tls]` or, on a network you trust, set `insecure_http = true`"
                } else {
                    "it serves plain HTTP: scrape `/metrics` on the API listener with \
                     `metrics.token_file` or, on a network you trust, set `insecure_http = true`"
                };
                return Err(format!(
                    "`{key}` `{addr}` is not a loopback address and would serve in clear: {remedy}"
                ));
            }
        }
        if let Some(metrics) = self.metrics.listen
            && metrics == self.listen
            && metrics.port() != 0
        {
            return Err(format!(
                "`metrics.listen` `{metrics}` is the API's `listen` address"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
