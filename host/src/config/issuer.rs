//! `[[issuers]]`: the token issuers Wicket trusts and how their signatures are checked.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use reqwest::Url;
use serde::Deserialize;

use super::duration;
use crate::domain::is_dns1123_label;

/// The shortest HS256 secret accepted, in bytes (RFC 7518 asks for at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// The longest token lifetime accepted when an issuer does not say: 24 hours.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How long keys fetched from a JWKS URL stay trusted without a successful refresh, when an
/// issuer does not say: 4 hours.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(4 * 3600);

/// One trusted token issuer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawIssuer")]
pub struct IssuerConfig {
    /// The short name that qualifies its groups: a token of this issuer in group `sre` is in
    /// `<alias>:sre` (a DNS-1123 label, unique among the issuers).
    pub alias: String,
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
    /// The longest lifetime a token may have: `exp` − `iat` (or `exp` − now, when that is
    /// longer or there is no `iat`), beyond the leeway.
    pub max_token_lifetime: Duration,
}

impl IssuerConfig {
    /// `group` of this issuer's tokens as policies and the configuration name it:
    /// `<alias>:<group>`.
    pub fn qualify(&self, group: &str) -> String {
        format!("{}:{group}", self.alias)
    }
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
        /// How long fetched keys stay trusted without a successful refresh; older keys
        /// verify nothing (fails closed) until a fetch succeeds again.
        max_age: Duration,
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
    alias: String,
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<String>,
    jwks_file: Option<PathBuf>,
    jwks_url: Option<String>,
    #[serde(default, deserialize_with = "duration::deserialize_option")]
    jwks_refresh: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize_option")]
    jwks_min_refetch: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize_option")]
    jwks_max_age: Option<Duration>,
    hs256_secret: Option<Secret>,
    #[serde(default = "default_groups_claim")]
    groups_claim: String,
    #[serde(default, deserialize_with = "duration::deserialize_option_zero")]
    leeway: Option<Duration>,
    #[serde(default, deserialize_with = "duration::deserialize_option")]
    max_token_lifetime: Option<Duration>,
}

impl TryFrom<RawIssuer> for IssuerConfig {
    type Error = String;

    fn try_from(raw: RawIssuer) -> Result<Self, String> {
        let issuer = raw.issuer;
        if issuer.trim().is_empty() {
            return Err("`issuer` must not be empty".to_owned());
        }
        if !is_dns1123_label(&raw.alias) {
            return Err(format!(
                "issuer `{issuer}`: `alias` `{}` must be a DNS-1123 label \
                 (lowercase letters, digits and `-`, at most 63)",
                raw.alias
            ));
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
        if raw.jwks_url.is_none()
            && (raw.jwks_refresh.is_some()
                || raw.jwks_min_refetch.is_some()
                || raw.jwks_max_age.is_some())
        {
            return Err(format!(
                "issuer `{issuer}`: `jwks_refresh`, `jwks_min_refetch` and `jwks_max_age` only \
                 apply with `jwks_url`"
            ));
        }
        let keys = match (raw.jwks_file, raw.jwks_url, raw.hs256_secret) {
            (Some(path), None, None) => KeySource::JwksFile(path),
            (None, Some(url), None) => {
                let refresh = raw.jwks_refresh.unwrap_or(Duration::from_secs(3600));
                let max_age = raw.jwks_max_age.unwrap_or(DEFAULT_JWKS_MAX_AGE);
                if max_age <= refresh {
                    return Err(format!(
                        "issuer `{issuer}`: `jwks_max_age` ({} s) must be longer than \
                         `jwks_refresh` ({} s), or keys would stop being trusted before a refresh",
                        max_age.as_secs_f64(),
                        refresh.as_secs_f64()
                    ));
                }
                KeySource::JwksUrl {
                    url: parse_jwks_url(&issuer, &url)?,
                    refresh,
                    min_refetch: raw.jwks_min_refetch.unwrap_or(Duration::from_secs(30)),
                    max_age,
                }
            }
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
            alias: raw.alias,
            issuer,
            audiences: raw.audiences,
            algorithms,
            keys,
            groups_claim: raw.groups_claim,
            leeway: raw.leeway.unwrap_or_else(default_leeway),
            max_token_lifetime: raw.max_token_lifetime.unwrap_or(DEFAULT_MAX_TOKEN_LIFETIME),
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

/// Refuses two issuers with one alias, and a group in `(key, groups)` that is not
/// `<alias>:<group>` with the alias of a configured issuer: a bare `platform-admins` would
/// otherwise match no one, or a group of whichever issuer was meant.
pub(super) fn check_aliases(
    issuers: &[IssuerConfig],
    group_lists: &[(&str, &[String])],
) -> Result<(), String> {
    let mut aliases = std::collections::HashSet::new();
    for issuer in issuers {
        if !aliases.insert(issuer.alias.as_str()) {
            return Err(format!(
                "issuer `{}`: `alias` `{}` is already used by another issuer",
                issuer.issuer, issuer.alias
            ));
        }
    }
    for (key, groups) in group_lists {
        for group in *groups {
            let Some((alias, name)) = group.split_once(':') else {
                return Err(format!(
                    "`{key}` entry `{group}` must be `<alias>:<group>`, with the `alias` of one of \
                     the `[[issuers]]`"
                ));
            };
            if name.trim().is_empty() {
                return Err(format!(
                    "`{key}` entry `{group}` names no group after `{alias}:`"
                ));
            }
            if !aliases.contains(alias) {
                let mut known: Vec<&str> = aliases.iter().copied().collect();
                known.sort_unstable();
                return Err(format!(
                    "`{key}` entry `{group}` names issuer alias `{alias}`, which no `[[issuers]]` \
                     entry has (configured: `{}`)",
                    known.join("`, `")
                ));
            }
        }
    }
    Ok(())
}
