//! Test tokens: HS256 with the test secret, RS256 with the test-only RSA keys.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// The HS256 secret of the `wicket-test` issuer.
pub const SECRET: &str = "test-only-secret-of-at-least-32-bytes-long";
/// The HS256 issuer.
pub const ISSUER: &str = "wicket-test";
/// The RS256 issuer (keys in `fixtures/jwks-a.json`).
pub const RSA_ISSUER: &str = "https://login.example.com";
/// The private key of `rsa-a` in `fixtures/jwks-a.json`.
pub const RSA_A: &str = include_str!("../fixtures/test-only-rsa-a.pem");
/// The bearer token of `/metrics` (`[metrics] token_file` of `fixtures/wicket.toml`).
pub const METRICS_TOKEN: &str = include_str!("../fixtures/metrics-token").trim_ascii();
/// A private key whose public half is in no JWKS.
pub const RSA_B: &str = include_str!("../fixtures/test-only-rsa-b.pem");

/// Claims for `sub` in `groups`, valid for ten minutes, from the HS256 issuer.
pub fn claims(sub: &str, groups: &[&str]) -> Value {
    let now = jiff::Timestamp::now().as_second();
    json!({"iss": ISSUER, "aud": "wicket", "sub": sub, "exp": now + 600, "iat": now, "groups": groups})
}

/// Signs `claims` with HS256 and `secret`.
pub fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign a test token")
}

/// Signs `claims` with RS256 and the PEM `key`, naming `kid`.
pub fn rs256(claims: &Value, key: &str, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_rsa_pem(key.as_bytes()).expect("a test RSA key");
    jsonwebtoken::encode(&header, claims, &key).expect("sign a test token")
}

/// A valid token of the HS256 issuer.
pub fn token(sub: &str, groups: &[&str]) -> String {
    hs256(&claims(sub, groups), SECRET)
}
