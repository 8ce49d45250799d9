//! `[[issuers]]`: the token issuers Wicket trusts and how their signatures are checked.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use reqwest::Url;
use serde::Deserialize;

use super::duration;

/// The shortest HS256 secret accepted, in bytes (RFC 7518 asks for at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// One trusted token issuer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawIssuer")]
pub struct IssuerConfig {
    /// The exact `iss` claim of its tokens.
    pub issuer: String,
    /// Accepted `aud` values; a token must carry at least one of them.
    pub audiences: Vec<String>,
    /// Signature algorithms accepted from this issuer (never `none`, never HMAC with a JWKS).
    pub algorithms: Vec<Algorithm>,
    /// Where the verification keys come from.
    pub keys: KeySource,
    /// The claim that holds the requester's groups.
    pub groups_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
}

/// Where an issuer's verification keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// A JWKS document on disk, read at start.
    JwksFile(PathBuf),
    /// A JWKS document fetched over HTTP(S).
    JwksUrl {
        /// Where to fetch it.
        url: Url,
        /// How often the cached key set is refreshed.
        refresh: Duration,
        /// The least time between two fetches caused by tokens with an unknown `kid`.
        min_refetch: Duration,
    },
    /// A shared HS256 secret; only accepted when the configuration sets `dev = true`.
    Hs256Secret(Secret),
}

/// A secret string that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret's bytes, for the one place that needs them.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn default_groups_claim() -> String {
    "groups".to_owned()
}

fn default_leeway() -> Duration {
    Duration::from_secs(30)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssuer {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<String>,
    jwks_file: Option<PathBuf>,
    jwks_url: Option<String>,
    #[serde(default, deserialize_with = "duration::deserialize_option")]
    jwks_refresh: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize_option")]
    jwks_min_refetch: Option<Duration>,
    hs256_secret: Option<Secret>,
    #[serde(default = "default_groups_claim")]
    groups_claim: String,
    #[serde(default, deserialize_with = "duration::deserialize_option_zero")]
    leeway: Option<Duration>,
}

impl TryFrom<RawIssuer> for IssuerConfig {
    type Error = String;

    fn try_from(raw: RawIssuer) -> Result<Self, String> {
        let issuer = raw.issuer;
        if issuer.trim().is_empty() {
            return Err("`issuer` must not be empty".to_owned());
        }
        if raw.audiences.is_empty() || raw.audiences.iter().any(|a| a.trim().is_empty()) {
            return Err(format!(
                "issuer `{issuer}` needs at least one non-empty entry in `audiences`"
            ));
        }
        if raw.groups_claim.trim().is_empty() {
            return Err(format!(
                "issuer `{issuer}`: `groups_claim` must not be empty"
            ));
        }
        let algorithms = parse_algorithms(&issuer, &raw.algorithms)?;
        if raw.jwks_url.is_none() && (raw.jwks_refresh.is_some() || raw.jwks_min_refetch.is_some())
        {
            return Err(format!(
                "issuer `{issuer}`: `jwks_refresh` and `jwks_min_refetch` only apply with `jwks_url`"
            ));
        }
        let keys = match (raw.jwks_file, raw.jwks_url, raw.hs256_secret) {
            (Some(path), None, None) => KeySource::JwksFile(path),
            (None, Some(url), None) => KeySource::JwksUrl {
                url: parse_jwks_url(&issuer, &url)?,
                refresh: raw.jwks_refresh.unwrap_or(Duration::from_secs(3600)),
                min_refetch: raw.jwks_min_refetch.unwrap_or(Duration::from_secs(30)),
            },
            (None, None, Some(secret)) => {
                if secret.expose().len() < MIN_SECRET_BYTES {
                    return Err(format!(
                        "issuer `{issuer}`: `hs256_secret` must be at least {MIN_SECRET_BYTES} bytes"
                    ));
                }
                KeySource::Hs256Secret(secret)
            }
            _ => {
                return Err(format!(
                    "issuer `{issuer}` needs exactly one of `jwks_file`, `jwks_url` or `hs256_secret`"
                ));
            }
        };
        check_algorithms_fit_keys(&issuer, &algorithms, &keys)?;
        Ok(Self {
            issuer,
            audiences: raw.audiences,
            algorithms,
            keys,
            groups_claim: raw.groups_claim,
            leeway: raw.leeway.unwrap_or_else(default_leeway),
        })
    }
}

fn parse_algorithms(issuer: &str, names: &[String]) -> Result<Vec<Algorithm>, String> {
    if names.is_empty() {
        return Err(format!(
            "issuer `{issuer}` needs at least one entry in `algorithms`"
        ));
    }
    let mut algorithms = Vec::with_capacity(names.len());
    for name in names {
        if name.eq_ignore_ascii_case("none") {
            return Err(format!(
                "issuer `{issuer}`: algorithm `none` is never allowed"
            ));
        }
        let algorithm = Algorithm::from_str(name).map_err(|_| {
            format!(
                "issuer `{issuer}`: algorithm `{name}` is not supported \
                 (use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA or HS256)"
            )
        })?;
        if !algorithms.contains(&algorithm) {
            algorithms.push(algorithm);
        }
    }
    Ok(algorithms)
}

/// Refuses configurations that would open the HS/RS confusion attack: HMAC algorithms only
/// with the dev secret, public-key algorithms only with a JWKS.
fn check_algorithms_fit_keys(
    issuer: &str,
    algorithms: &[Algorithm],
    keys: &KeySource,
) -> Result<(), String> {
    match keys {
        KeySource::Hs256Secret(_) => {
            if let Some(other) = algorithms.iter().find(|a| **a != Algorithm::HS256) {
                return Err(format!(
                    "issuer `{issuer}`: `hs256_secret` only verifies HS256, not `{other:?}`"
                ));
            }
        }
        KeySource::JwksFile(_) | KeySource::JwksUrl { .. } => {
            if let Some(hmac) = algorithms
                .iter()
                .find(|a| a.family() == AlgorithmFamily::Hmac)
            {
                return Err(format!(
                    "issuer `{issuer}`: HMAC algorithm `{hmac:?}` cannot be used with a JWKS; \
                     use a public-key algorithm"
                ));
            }
        }
    }
    Ok(())
}

fn parse_jwks_url(issuer: &str, text: &str) -> Result<Url, String> {
    let url = Url::parse(text)
        .map_err(|e| format!("issuer `{issuer}`: `jwks_url` `{text}` is not a URL: {e}"))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(format!(
            "issuer `{issuer}`: `jwks_url` `{text}` must use https (plain http only on loopback)"
        )),
    }
}
