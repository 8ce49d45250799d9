//! Verification keys of one issuer: a dev HS256 secret, a JWKS file, or a JWKS URL cached,
//! refreshed, and refetched (rate-limited) when a token names an unknown `kid`; keys of a
//! JWKS URL that could not be refreshed for longer than the issuer's `jwks_max_age` verify
//! nothing until a fetch succeeds again.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use reqwest::Url;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use super::{Error, Result, shown};
use crate::config::KeySource;

/// The largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;
/// How long one JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why keys could not be loaded when Wicket starts.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The JWKS file could not be read.
    #[error("cannot read JWKS file `{path}` of issuer `{issuer}`: {source}")]
    Read {
        /// The issuer.
        issuer: String,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The JWKS file holds no usable signature key.
    #[error("JWKS of issuer `{issuer}` is unusable: {reason}")]
    Unusable {
        /// The issuer.
        issuer: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for JWKS fetches: {0}")]
    Client(#[source] reqwest::Error),
}

/// One usable public key of a JWKS.
#[derive(Clone)]
struct PublicKey {
    key: DecodingKey,
    /// The algorithm the JWK pins, if it names one.
    algorithm: Option<Algorithm>,
}

/// Public keys by `kid`.
#[derive(Clone, Default)]
pub(super) struct KeySet {
    by_kid: HashMap<String, PublicKey>,
}

impl KeySet {
    /// Keeps the signature keys with a `kid` that are public keys; symmetric (`oct`) keys are
    /// never taken from a JWKS, so an HMAC token can never be checked against one.
    fn parse(issuer: &str, json: &[u8]) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document =
            serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut by_kid = HashMap::new();
        for value in document.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                tracing::debug!(issuer, "skipping a JWK of an unsupported type");
                continue;
            };
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let is_signature_key = matches!(
                jwk.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            );
            let is_public_key = matches!(
                jwk.algorithm,
                AlgorithmParameters::RSA(_)
                    | AlgorithmParameters::EllipticCurve(_)
                    | AlgorithmParameters::OctetKeyPair(_)
            );
            if !is_signature_key || !is_public_key {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                tracing::debug!(issuer, kid, "skipping a JWK that does not decode");
                continue;
            };
            let algorithm = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            by_kid.insert(kid, PublicKey { key, algorithm });
        }
        if by_kid.is_empty() {
            return Err("it holds no public signature key with a `kid`".to_owned());
        }
        Ok(Self { by_kid })
    }

    fn get(&self, kid: &str, algorithm: Algorithm) -> Option<Result<DecodingKey>> {
        let found = self.by_kid.get(kid)?;
        let fits = found.key.family() == algorithm.family()
            && found.algorithm.is_none_or(|pinned| pinned == algorithm);
        Some(if fits {
            Ok(found.key.clone())
        } else {
            Err(Error::AlgorithmNotAllowed(format!("{algorithm:?}")))
        })
    }
}

/// The keys of one issuer.
pub(super) enum Keys {
    /// The dev HS256 secret.
    Secret(DecodingKey),
    /// A JWKS read once from a file.
    Static(KeySet),
    /// A JWKS fetched from a URL.
    Remote(Box<RemoteJwks>),
}

impl Keys {
    /// Loads the keys `source` describes; a JWKS URL is fetched lazily, on first use.
    pub(super) fn load(issuer: &str, source: &KeySource) -> Result<Self, LoadError> {
        Ok(match source {
            KeySource::Hs256Secret(secret) => {
                Self::Secret(DecodingKey::from_secret(secret.expose()))
            }
            KeySource::JwksFile(path) => Self::Static(read_file(issuer, path)?),
            KeySource::JwksUrl {
                url,
                refresh,
                min_refetch,
                max_age,
            } => Self::Remote(Box::new(RemoteJwks::new(
                issuer,
                url.clone(),
                Timing {
                    refresh: *refresh,
                    min_refetch: *min_refetch,
                    max_age: *max_age,
                },
            )?)),
        })
    }

    /// The key that must have signed a token with this `kid` and algorithm, and the
    /// generation of the keys it was found in: a secret or a JWKS file never changes
    /// (generation 0); a JWKS URL's keys move to the next generation on every fetch.
    pub(super) async fn key_for(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<(DecodingKey, u64)> {
        match self {
            Self::Secret(key) => {
                if algorithm.family() != AlgorithmFamily::Hmac {
                    return Err(Error::AlgorithmNotAllowed(format!("{algorithm:?}")));
                }
                Ok((key.clone(), 0))
            }
            Self::Static(set) => {
                let kid = kid.ok_or(Error::MissingKeyId)?;
                let key = set
                    .get(kid, algorithm)
                    .unwrap_or_else(|| Err(Error::UnknownKey(shown(kid))))?;
                Ok((key, 0))
            }
            Self::Remote(remote) => {
                remote
                    .key_for(kid.ok_or(Error::MissingKeyId)?, algorithm)
                    .await
            }
        }
    }
}

fn read_file(issuer: &str, path: &Path) -> Result<KeySet, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        issuer: issuer.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    KeySet::parse(issuer, &bytes).map_err(|reason| LoadError::Unusable {
        issuer: issuer.to_owned(),
        reason,
    })
}

#[derive(Default)]
struct Cache {
    keys: Option<KeySet>,
    /// Successful fetches so far: tokens verified with older keys are verified again.
    generation: u64,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// When a JWKS URL is fetched and how long its keys are trusted.
#[derive(Clone, Copy)]
struct Timing {
    /// Keys older than this are refreshed before use.
    refresh: Duration,
    /// The least time between two fetches caused by tokens with an unknown `kid`.
    min_refetch: Duration,
    /// Keys older than this (no successful fetch since) verify nothing.
    max_age: Duration,
}

/// A JWKS behind a URL: cached, refreshed every `refresh`, refetched on an unknown `kid` at
/// most once per `min_refetch`; one fetch at a time. When a refresh fails the keys already
/// known keep working until `max_age` after the last successful fetch; then, or with no keys
/// at all, verification fails closed — so keeping the issuer unreachable cannot keep a key it
/// has since removed trusted.
pub(super) struct RemoteJwks {
    issuer: String,
    url: Url,
    timing: Timing,
    client: reqwest::Client,
    cache: RwLock<Cache>,
    fetching: Mutex<()>,
    /// Whether the refusal of too-old keys has been logged since the last successful fetch.
    too_old_logged: AtomicBool,
}

impl RemoteJwks {
    fn new(issuer: &str, url: Url, timing: Timing) -> Result<Self, LoadError> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(LoadError::Client)?;
        Ok(Self {
            issuer: issuer.to_owned(),
            url,
            timing,
            client,
            cache: RwLock::new(Cache::default()),
            fetching: Mutex::new(()),
            too_old_logged: AtomicBool::new(false),
        })
    }

    async fn key_for(&self, kid: &str, algorithm: Algorithm) -> Result<(DecodingKey, u64)> {
        let (fresh, found, generation) = {
            let cache = self.cache.read().await;
            // Never fresh past `max_age`, whatever `refresh` says.
            let fresh = cache
                .fetched_at
                .is_some_and(|at| at.elapsed() < self.timing.refresh.min(self.timing.max_age));
            let found = cache.keys.as_ref().and_then(|set| set.get(kid, algorithm));
            (fresh, found, cache.generation)
        };
        match found {
            Some(result) if fresh => return Ok((result?, generation)),
            // Stale: refresh first (keeping the old keys if that fails).
            Some(_) => self.fetch(Why::Stale).await,
            None => self.fetch(Why::UnknownKid).await,
        }
        let cache = self.cache.read().await;
        if let Some(age) = cache.fetched_at.map(|at| at.elapsed())
            && age >= self.timing.max_age
        {
            if !self.too_old_logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    issuer = %self.issuer,
                    url = %self.url,
                    age_s = age.as_secs(),
                    max_age_s = self.timing.max_age.as_secs(),
                    "JWKS keys not refreshed within `jwks_max_age`: refusing every token of this issuer until a fetch succeeds"
                );
            }
            return Err(Error::KeysTooOld(shown(&self.issuer)));
        }
        match cache.keys.as_ref() {
            Some(set) => set
                .get(kid, algorithm)
                .unwrap_or_else(|| Err(Error::UnknownKey(shown(kid))))
                .map(|key| (key, cache.generation)),
            None => Err(Error::KeysUnavailable(shown(&self.issuer))),
        }
    }

    /// Fetches the JWKS unless the rate limit for `why` says it is too soon.
    async fn fetch(&self, why: Why) {
        let _one_at_a_time = self.fetching.lock().await;
        {
            // Another task may have fetched while this one waited for the lock.
            let cache = self.cache.read().await;
            let since_attempt = cache.last_attempt.map(|at| at.elapsed());
            let too_soon = since_attempt.is_some_and(|elapsed| match why {
                Why::Stale => elapsed < self.timing.refresh.min(self.timing.min_refetch),
                Why::UnknownKid => elapsed < self.timing.min_refetch,
            });
            if too_soon {
                return;
            }
        }
        let fetched = self.download().await;
        let mut cache = self.cache.write().await;
        cache.last_attempt = Some(Instant::now());
        match fetched {
            Ok(set) => {
                cache.keys = Some(set);
                cache.generation += 1;
                cache.fetched_at = Some(Instant::now());
                self.too_old_logged.store(false, Ordering::Relaxed);
            }
            Err(reason) => {
                tracing::warn!(issuer = %self.issuer, url = %self.url, %reason, "JWKS fetch failed");
            }
        }
    }

    async fn download(&self) -> Result<KeySet, String> {
        let mut response = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("document is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        KeySet::parse(&self.issuer, &body)
    }
}

#[derive(Clone, Copy)]
enum Why {
    Stale,
    UnknownKid,
}
