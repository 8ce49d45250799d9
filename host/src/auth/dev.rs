//! Tokens for `wicket dev`: minted with the dev issuer's HS256 secret, so that a newcomer
//! can call the API without an identity provider.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::config::{IssuerConfig, KeySource};

/// Why no dev token could be minted.
#[derive(Debug, thiserror::Error)]
pub enum DevTokenError {
    /// The issuer has no HS256 secret (only `dev = true` configurations have one).
    #[error("issuer `{0}` has no `hs256_secret` to mint dev tokens with")]
    NotDevIssuer(String),
    /// The subject is empty.
    #[error("a dev token needs a non-empty subject")]
    EmptySubject,
    /// Signing failed.
    #[error("cannot sign the dev token: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// Mints a token of the dev `issuer` for `subject` in `groups`, valid for `ttl` from now, for
/// the issuer's first audience and in its groups claim.
pub fn mint_dev_token(
    issuer: &IssuerConfig,
    subject: &str,
    groups: &[String],
    ttl: Duration,
) -> Result<String, DevTokenError> {
    let KeySource::Hs256Secret(secret) = &issuer.keys else {
        return Err(DevTokenError::NotDevIssuer(issuer.issuer.clone()));
    };
    if subject.is_empty() {
        return Err(DevTokenError::EmptySubject);
    }
    let now = jiff::Timestamp::now().as_second();
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let mut claims = json!({
        "iss": issuer.issuer,
        "aud": issuer.audiences.first(),
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now.saturating_add(ttl),
    });
    claims[&issuer.groups_claim] = json!(groups);
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.expose()),
    )
    .map_err(DevTokenError::Sign)
}
