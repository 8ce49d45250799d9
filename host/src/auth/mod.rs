//! Token authentication: verifies a bearer JWT against the configured issuers and yields the
//! caller's [`Identity`]. Free of HTTP frameworks; the API edge wraps it in an extractor.
//!
//! Checks, in order: the token's shape; its `alg` (never `none`, and only what the token's
//! issuer allows, which keeps HMAC and public-key algorithms apart — the HS/RS confusion
//! attack needs a server that checks an HMAC signature with a public key); the key by `kid`;
//! the signature; `exp` and `nbf` (with the issuer's leeway), `iss`, `aud` and `sub`; the
//! token's lifetime (at most the issuer's `max_token_lifetime`).
//! Groups come out qualified by the issuer's alias (`<alias>:<group>`), so a group name one
//! issuer's tokens carry never stands for another issuer's group of the same name.
//! Every [`Error`] message is safe to send back to the client: it never holds key material
//! and echoes token values only shortened and cleaned. A token verified once is remembered
//! (see `remembered`): sent again, it is accepted without those checks while its own validity
//! window and its issuer's keys still hold.

mod keys;
mod remembered;

use std::collections::HashMap;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::{Map, Value};

pub use keys::LoadError;

use crate::config::IssuerConfig;
use crate::domain::Identity;
use keys::Keys;
use remembered::{Remembered, Verified, unix_now};

/// The longest token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Why a token was refused. Every message is safe to return to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not a JWS compact token, or its parts are not base64url JSON.
    #[error("token is malformed")]
    Malformed,
    /// The header says `alg: none`.
    #[error("token algorithm `none` is not allowed")]
    AlgorithmNone,
    /// The algorithm is not one the token's issuer is configured for, or does not fit the key.
    #[error("token algorithm `{0}` is not allowed for its issuer")]
    AlgorithmNotAllowed(String),
    /// The `iss` claim names no configured issuer.
    #[error("token issuer `{0}` is not trusted")]
    UnknownIssuer(String),
    /// The issuer publishes several keys and the header names none.
    #[error("token has no `kid` header")]
    MissingKeyId,
    /// No key of the issuer has this `kid`.
    #[error("token key `{0}` is unknown")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` has passed.
    #[error("token is expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("token is not valid yet")]
    NotYetValid,
    /// No `aud` value is one the issuer is configured for.
    #[error("token audience is not accepted")]
    WrongAudience,
    /// A required claim is missing.
    #[error("token has no `{0}` claim")]
    MissingClaim(String),
    /// A claim has the wrong type or value.
    #[error("token claim `{0}` is invalid")]
    InvalidClaim(String),
    /// The issuer's keys could not be fetched; fails closed.
    #[error("keys of token issuer `{0}` are unavailable")]
    KeysUnavailable(String),
    /// The issuer's keys were last fetched longer ago than its `jwks_max_age`; fails closed.
    #[error("keys of token issuer `{0}` could not be refreshed for too long")]
    KeysTooOld(String),
    /// `exp` lies further after `iat` (or now) than the issuer's `max_token_lifetime`.
    #[error("token lifetime exceeds the {0} s its issuer allows")]
    LifetimeTooLong(u64),
}

impl Error {
    /// A stable machine-readable code, for audit events and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::AlgorithmNone => "algorithm_none",
            Self::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            Self::UnknownIssuer(_) => "unknown_issuer",
            Self::MissingKeyId => "missing_kid",
            Self::UnknownKey(_) => "unknown_kid",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongAudience => "wrong_audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::KeysUnavailable(_) => "keys_unavailable",
            Self::KeysTooOld(_) => "keys_too_old",
            Self::LifetimeTooLong(_) => "lifetime_too_long",
        }
    }
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A token value fit to echo in a message: printable ASCII, at most 64 characters.
fn shown(value: &str) -> String {
    let mut shown: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(64)
        .collect();
    if value.chars().count() > 64 {
        shown.push('…');
    }
    shown
}

struct Issuer {
    config: IssuerConfig,
    keys: Keys,
}

/// Verifies tokens of the configured issuers.
pub struct Authenticator {
    issuers: HashMap<String, Issuer>,
    remembered: Remembered,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

impl Authenticator {
    /// Sets up verification for `issuers`: reads JWKS files now; JWKS URLs are fetched on
    /// first use, so an identity provider that is down does not stop Wicket from starting.
    pub fn new(issuers: &[IssuerConfig]) -> Result<Self, LoadError> {
        let issuers = issuers
            .iter()
            .map(|config| {
                let keys = Keys::load(&config.issuer, &config.keys)?;
                Ok((
                    config.issuer.clone(),
                    Issuer {
                        config: config.clone(),
                        keys,
                    },
                ))
            })
            .collect::<Result<_, LoadError>>()?;
        Ok(Self {
            issuers,
            remembered: Remembered::default(),
        })
    }

    /// Registers authentication's metrics for one scrape: requests authenticated by a
    /// remembered verification, and tokens remembered now.
    pub fn register_metrics(&self, registry: &mut Registry) {
        let (used, remembered) = self.remembered.stats();
        registry.register(
            "wicket_auth_remembered",
            "Requests authenticated by a token verified before",
            ConstCounter::new(used),
        );
        registry.register(
            "wicket_auth_remembered_tokens",
            "Verified tokens remembered now",
            ConstGauge::new(i64::try_from(remembered).unwrap_or(i64::MAX)),
        );
    }

    /// Verifies a bearer token (without the `Bearer ` prefix) and returns who it proves.
    pub async fn verify(&self, token: &str) -> Result<Identity> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Error::Malformed);
        }
        let fingerprint = Remembered::fingerprint(token);
        // The issuer's keys as a remembered token's check found them, for the check below.
        let mut asked = None;
        if let Some(verified) = self.remembered.get(&fingerprint, unix_now()) {
            if let Some(issuer) = self.issuers.get(&verified.issuer) {
                let kid = verified.kid.as_deref();
                match issuer.keys.key_for(kid, verified.algorithm).await {
                    Ok((_, generation)) if generation == verified.generation => {
                        self.remembered.used();
                        return Ok(verified.identity);
                    }
                    Ok((key, generation)) => {
                        asked = Some((verified.kid, verified.algorithm, key, generation));
                    }
                    Err(_) => {}
                }
            }
            // Its keys changed (or are gone): verified from scratch below.
            self.remembered.forget(&fingerprint);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Malformed);
        };
        let header: Header = decode_part(header)?;
        if header.alg.eq_ignore_ascii_case("none") {
            return Err(Error::AlgorithmNone);
        }
        // Only to pick the issuer's keys: every claim is verified below with those keys.
        let unverified: Map<String, Value> = decode_part(payload)?;
        let iss = match unverified.get("iss") {
            Some(Value::String(iss)) => iss,
            Some(_) => return Err(Error::InvalidClaim("iss".to_owned())),
            None => return Err(Error::MissingClaim("iss".to_owned())),
        };
        let issuer = self
            .issuers
            .get(iss)
            .ok_or_else(|| Error::UnknownIssuer(shown(iss)))?;
        let algorithm = Algorithm::from_str(&header.alg)
            .ok()
            .filter(|a| issuer.config.algorithms.contains(a))
            .ok_or_else(|| Error::AlgorithmNotAllowed(shown(&header.alg)))?;
        let (key, generation) = match asked {
            // Asked a moment ago for this very token: not asked twice (a stale JWKS would be
            // fetched twice).
            Some((kid, asked_for, key, generation))
                if kid == header.kid && asked_for == algorithm =>
            {
                (key, generation)
            }
            _ => {
                issuer
                    .keys
                    .key_for(header.kid.as_deref(), algorithm)
                    .await?
            }
        };

        let mut validation = Validation::new(algorithm);
        validation.leeway = issuer.config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&issuer.config.issuer]);
        validation.set_audience(&issuer.config.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| map_error(e.into_kind(), algorithm))?
            .claims;
        let exp = claims.get("exp").and_then(Value::as_f64);
        let nbf = claims.get("nbf").and_then(Value::as_f64);
        check_lifetime(&issuer.config, exp, claims.get("iat"), unix_now())?;
        let identity = identity(&issuer.config, claims)?;
        if let Some(exp) = exp {
            let verified = Verified {
                issuer: issuer.config.issuer.clone(),
                kid: header.kid,
                algorithm,
                generation,
                exp,
                nbf,
                identity: identity.clone(),
            };
            self.remembered.insert(fingerprint, verified, unix_now());
        }
        Ok(identity)
    }
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str) -> Result<T> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| Error::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| Error::Malformed)
}

fn map_error(kind: ErrorKind, algorithm: Algorithm) -> Error {
    match kind {
        ErrorKind::InvalidSignature => Error::BadSignature,
        ErrorKind::ExpiredSignature => Error::Expired,
        ErrorKind::ImmatureSignature => Error::NotYetValid,
        ErrorKind::InvalidAudience => Error::WrongAudience,
        ErrorKind::InvalidIssuer => Error::InvalidClaim("iss".to_owned()),
        ErrorKind::MissingRequiredClaim(claim) => Error::MissingClaim(shown(&claim)),
        ErrorKind::InvalidClaimFormat(claim) => Error::InvalidClaim(shown(&claim)),
        ErrorKind::InvalidAlgorithm => Error::AlgorithmNotAllowed(format!("{algorithm:?}")),
        _ => Error::Malformed,
    }
}

/// Refuses a token that is valid for longer than its issuer allows: `exp` − `iat`, or
/// `exp` − `now` when there is no `iat` or `iat` lies ahead (so a token cannot shorten its
/// lifetime by claiming a later issue time), beyond the issuer's leeway.
fn check_lifetime(
    config: &IssuerConfig,
    exp: Option<f64>,
    iat: Option<&Value>,
    now: f64,
) -> Result<()> {
    let exp = exp.ok_or_else(|| Error::InvalidClaim("exp".to_owned()))?;
    let issued = match iat {
        None | Some(Value::Null) => now,
        Some(Value::Number(iat)) => iat
            .as_f64()
            .ok_or_else(|| Error::InvalidClaim("iat".to_owned()))?
            .min(now),
        Some(_) => return Err(Error::InvalidClaim("iat".to_owned())),
    };
    let allowed = config.max_token_lifetime + config.leeway;
    if exp - issued > allowed.as_secs_f64() {
        return Err(Error::LifetimeTooLong(config.max_token_lifetime.as_secs()));
    }
    Ok(())
}

/// The identity a verified token proves: `sub`, `iss`, groups from the issuer's groups
/// claim (qualified: `<alias>:<group>`), and every other claim.
fn identity(config: &IssuerConfig, mut claims: Map<String, Value>) -> Result<Identity> {
    let subject = match claims.remove("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub,
        Some(_) => return Err(Error::InvalidClaim("sub".to_owned())),
        None => return Err(Error::MissingClaim("sub".to_owned())),
    };
    claims.remove("iss");
    let groups = match claims.remove(&config.groups_claim) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(group)) => vec![config.qualify(&group)],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(group) => Ok(config.qualify(&group)),
                _ => Err(Error::InvalidClaim(shown(&config.groups_claim))),
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(Error::InvalidClaim(shown(&config.groups_claim))),
    };
    Ok(Identity {
        subject,
        issuer: config.issuer.clone(),
        groups,
        claims,
    })
}

#[cfg(test)]
mod tests;
