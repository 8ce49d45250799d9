//! Authentication: the static admin token, static user tokens, and service-account JWTs (ES256,
//! signed by a key generated at start) re-validated against the store on every request.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::resources::lookup;
use crate::store::{Store, meta_str, new_uid};

/// The authenticated (or anonymous) user of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// User name (`system:serviceaccount:<ns>:<name>` for service accounts).
    pub username: String,
    /// User uid (the ServiceAccount uid for service accounts).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Groups, including `system:authenticated`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// `system:anonymous` in `system:unauthenticated`.
    pub fn anonymous() -> Self {
        Self {
            username: "system:anonymous".into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
            extra: BTreeMap::new(),
        }
    }

    /// Whether the user is in `system:masters` (bypasses RBAC, as in Kubernetes).
    pub fn is_master(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
}

/// The `kubernetes.io` private claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    /// Namespace of the account.
    pub namespace: String,
    /// The account.
    pub serviceaccount: Ref,
}

/// Name and uid of an object a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
}

/// The claims of a service-account token, shaped like the real ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// `system:serviceaccount:<ns>:<name>`.
    pub sub: String,
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Token id.
    pub jti: String,
    /// Namespace and account.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
}

/// Signs and verifies service-account tokens.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    public: Vec<u8>,
    kid: String,
    rng: SystemRandom,
    /// `iss` of minted tokens.
    pub issuer: String,
    /// Audiences the API server accepts (and puts in tokens that ask for none).
    pub api_audiences: Vec<String>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Why a bearer token was refused (logged, never sent: the client only sees `Unauthorized`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, bad JSON, wrong algorithm.
    #[error("malformed token")]
    Malformed,
    /// The signature does not verify.
    #[error("invalid signature")]
    Signature,
    /// `exp` is past or `nbf` in the future.
    #[error("token has expired or is not yet valid")]
    Expired,
    /// Wrong issuer or no accepted audience.
    #[error("token issuer or audience is not accepted")]
    Audience,
    /// The account no longer exists.
    #[error("service account `{0}` has been deleted")]
    AccountDeleted(String),
    /// The account was re-created with another uid.
    #[error("service account `{0}` uid does not match the token")]
    UidMismatch(String),
}

impl TokenSigner {
    /// A signer with a fresh P-256 key.
    pub fn generate(issuer: String, api_audiences: Vec<String>) -> Result<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| Error::SigningKey)?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| Error::SigningKey)?;
        let public = key.public_key().as_ref().to_vec();
        let kid =
            URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &public).as_ref());
        Ok(Self {
            key,
            public,
            kid,
            rng,
            issuer,
            api_audiences,
        })
    }

    /// Mints a token for a service account.
    pub fn mint(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        audiences: Vec<String>,
        lifetime_secs: i64,
    ) -> Option<(String, i64)> {
        let now = jiff::Timestamp::now().as_second();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: format!("system:serviceaccount:{namespace}:{name}"),
            aud: audiences,
            exp: now + lifetime_secs,
            iat: now,
            nbf: now,
            jti: new_uid(),
            kubernetes: KubernetesClaim {
                namespace: namespace.to_owned(),
                serviceaccount: Ref {
                    name: name.to_owned(),
                    uid: uid.to_owned(),
                },
            },
        };
        let header = serde_json::json!({"alg": "ES256", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).ok()?)
        );
        let sig = self.key.sign(&self.rng, signing_input.as_bytes()).ok()?;
        Some((
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())),
            claims.exp,
        ))
    }

    /// Verifies signature, time window, issuer and that one audience is in `audiences`
    /// (the API server's own when empty).
    pub fn verify(&self, token: &str, audiences: &[String]) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(h)
                .map_err(|_| TokenError::Malformed)?,
        )
        .map_err(|_| TokenError::Malformed)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
            return Err(TokenError::Malformed);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| TokenError::Malformed)?;
        let signed = &token[..h.len() + 1 + c.len()];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public)
            .verify(signed.as_bytes(), &sig)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| TokenError::Malformed)?,
        )
        .map_err(|_| TokenError::Malformed)?;
        let now = jiff::Timestamp::now().as_second();
        if claims.exp <= now || claims.nbf > now + 60 {
            return Err(TokenError::Expired);
        }
        let accepted = if audiences.is_empty() {
            &self.api_audiences
        } else {
            audiences
        };
        if claims.iss != self.issuer || !claims.aud.iter().any(|a| accepted.contains(a)) {
            return Err(TokenError::Audience);
        }
        Ok(claims)
    }
}

/// The user of a verified service-account token, after checking the account still exists with the
/// same uid.
pub fn service_account_user(store: &Store, claims: &Claims) -> Result<UserInfo, TokenError> {
    let ns = &claims.kubernetes.namespace;
    let name = &claims.kubernetes.serviceaccount.name;
    let full = format!("system:serviceaccount:{ns}:{name}");
    let Some(sa_type) = lookup("", "v1", "serviceaccounts") else {
        return Err(TokenError::AccountDeleted(full));
    };
    let Some(sa) = store.get(sa_type, ns, name) else {
        return Err(TokenError::AccountDeleted(full));
    };
    if meta_str(sa, "uid") != claims.kubernetes.serviceaccount.uid {
        return Err(TokenError::UidMismatch(full));
    }
    let mut extra = BTreeMap::new();
    extra.insert(
        "authentication.kubernetes.io/credential-id".to_owned(),
        vec![format!("JTI={}", claims.jti)],
    );
    Ok(UserInfo {
        username: full,
        uid: claims.kubernetes.serviceaccount.uid.clone(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        extra,
    })
}
