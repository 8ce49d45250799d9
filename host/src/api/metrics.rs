//! Who may read `/metrics` on a listener: nobody (the route answers 404 like an unknown
//! path), anyone who reaches the listener, or holders of a bearer token.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// The shortest metrics token accepted, in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;

/// Why the metrics token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read.
    #[error("cannot read the metrics token file `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The token is too short to resist guessing.
    #[error("the metrics token in `{path}` is shorter than {MIN_TOKEN_BYTES} bytes")]
    TooShort {
        /// The file.
        path: PathBuf,
    },
}

/// The bearer token `/metrics` asks for, kept as its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsToken(Arc<[u8; 32]>);

impl MetricsToken {
    /// The token in `path`, surrounding whitespace trimmed.
    pub fn read(path: &Path) -> Result<Self, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.to_owned(),
            source,
        })?;
        let token = text.trim();
        if token.len() < MIN_TOKEN_BYTES {
            return Err(TokenError::TooShort {
                path: path.to_owned(),
            });
        }
        Ok(Self::new(token))
    }

    /// `token` itself.
    pub fn new(token: &str) -> Self {
        Self(Arc::new(Sha256::digest(token.as_bytes()).into()))
    }

    /// Whether `presented` is the token (digests compared, so the time taken says nothing
    /// about how much of it matched).
    fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest == *self.0
    }
}

/// Who may read `/metrics` on one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// `/metrics` is not served: 404, as for an unknown path.
    Closed,
    /// Served to anyone who reaches the listener.
    Open,
    /// Served to callers presenting the token as `Authorization: Bearer ...`; others get 401.
    Token(MetricsToken),
}

impl MetricsAccess {
    /// Whether a caller sending `headers` may read the metrics.
    pub(super) fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match self {
            Self::Open => Ok(()),
            Self::Closed => Err(ApiError::NotFound("no route for `/metrics`".to_owned())),
            Self::Token(token) => {
                let presented = headers
                    .get(AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| {
                        let (scheme, token) = value.split_once(' ')?;
                        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
                    });
                match presented {
                    Some(presented) if token.matches(presented) => Ok(()),
                    Some(_) => Err(ApiError::Unauthenticated {
                        code: "bad_metrics_token",
                        message: "this is not the metrics token".to_owned(),
                    }),
                    None => Err(ApiError::Unauthenticated {
                        code: "missing_token",
                        message: "`/metrics` needs `authorization: Bearer <metrics token>`"
                            .to_owned(),
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_file_is_trimmed_and_a_short_token_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics-token");
        std::fs::write(&path, "  fifteen-bytes!\n").unwrap();
        let error = MetricsToken::read(&path).unwrap_err().to_string();
        assert!(error.contains("shorter than 16 bytes"), "{error}");
        std::fs::write(&path, "sixteen-bytes-ok\n").unwrap();
        let token = MetricsToken::read(&path).unwrap();
        assert!(token.matches("sixteen-bytes-ok"));
        assert!(!token.matches("sixteen-bytes-ok\n"));
        assert!(!token.matches("sixteen-bytes-o"));
    }
}
