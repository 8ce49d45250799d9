//! Tokens already verified, remembered by their SHA-256, so that a client sending the same
//! token again (a CI job, a person's CLI: one token for many calls) is not verified from
//! scratch — the header and claims parsed twice and the signature checked, which for RS256 or
//! ES256 is a public-key operation of tens of microseconds. API gateways do the same (Envoy's
//! `jwt_authn` cache).
//!
//! A remembered token is only ever accepted *sooner*, never for longer or on other terms:
//! - it is used only while its `exp` is ahead and its `nbf` (if any) behind, without the
//!   issuer's leeway: near either edge the token is verified from scratch, leeway and all;
//! - it is used only while its issuer's keys are the ones that verified it: every use asks the
//!   issuer's keys for the token's `kid` again (which refreshes a stale JWKS as before, and
//!   refuses keys not refreshed within the issuer's `jwks_max_age`) and compares their
//!   generation, which moves on every fetch of a JWKS URL;
//! - a refused token is never remembered: each is verified, refused and audited as before;
//! - at most [`CAPACITY`] tokens are kept; when full, the expired ones go, then all of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use sha2::{Digest, Sha256};

use crate::domain::Identity;

/// The most tokens remembered at once (each a few hundred bytes).
pub(super) const CAPACITY: usize = 8192;

/// A token's SHA-256: what it is remembered by (the token itself is not kept).
pub(super) type Fingerprint = [u8; 32];

/// What a verification proved, and what must still hold to use it again.
#[derive(Debug, Clone)]
pub(super) struct Verified {
    /// The issuer whose keys verified it.
    pub issuer: String,
    /// The `kid` its header named.
    pub kid: Option<String>,
    /// The algorithm it was verified with.
    pub algorithm: Algorithm,
    /// The generation of the issuer's keys then.
    pub generation: u64,
    /// Its `exp`, in Unix seconds.
    pub exp: f64,
    /// Its `nbf`, in Unix seconds, if it has one.
    pub nbf: Option<f64>,
    /// Who it proves.
    pub identity: Identity,
}

impl Verified {
    /// Whether the token's own validity window holds at `now` (Unix seconds), leeway aside.
    fn current(&self, now: f64) -> bool {
        now < self.exp && self.nbf.is_none_or(|nbf| nbf <= now)
    }
}

/// The remembered tokens.
#[derive(Debug, Default)]
pub(super) struct Remembered {
    tokens: Mutex<HashMap<Fingerprint, Verified>>,
    used: AtomicU64,
}

/// The current time, in Unix seconds.
pub(super) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

impl Remembered {
    /// The fingerprint `token` is remembered by.
    pub(super) fn fingerprint(token: &str) -> Fingerprint {
        Sha256::digest(token.as_bytes()).into()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Fingerprint, Verified>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What was proved about the token, if it is remembered and its validity window holds at
    /// `now`; an expired one is forgotten.
    pub(super) fn get(&self, token: &Fingerprint, now: f64) -> Option<Verified> {
        let mut tokens = self.lock();
        let verified = tokens.get(token)?;
        if verified.current(now) {
            return Some(verified.clone());
        }
        if now >= verified.exp {
            tokens.remove(token);
        }
        None
    }

    /// Counts one request authenticated by a remembered verification.
    pub(super) fn used(&self) {
        self.used.fetch_add(1, Ordering::Relaxed);
    }

    /// Remembers a verification; makes room first if [`CAPACITY`] is reached.
    pub(super) fn insert(&self, token: Fingerprint, verified: Verified, now: f64) {
        let mut tokens = self.lock();
        if tokens.len() >= CAPACITY && !tokens.contains_key(&token) {
            tokens.retain(|_, kept| now < kept.exp);
            if tokens.len() >= CAPACITY {
                tokens.clear();
            }
        }
        tokens.insert(token, verified);
    }

    /// Forgets a token (its keys changed, or its issuer is gone).
    pub(super) fn forget(&self, token: &Fingerprint) {
        self.lock().remove(token);
    }

    /// Requests authenticated by a remembered verification so far, and tokens remembered now.
    pub(super) fn stats(&self) -> (u64, usize) {
        (self.used.load(Ordering::Relaxed), self.lock().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verified(exp: f64, nbf: Option<f64>) -> Verified {
        Verified {
            issuer: "https://login.example.com".to_owned(),
            kid: Some("rsa-a".to_owned()),
            algorithm: Algorithm::RS256,
            generation: 0,
            exp,
            nbf,
            identity: Identity {
                subject: "alice".to_owned(),
                issuer: "https://login.example.com".to_owned(),
                groups: vec!["sre".to_owned()],
                claims: serde_json::Map::new(),
            },
        }
    }

    #[test]
    fn a_token_is_used_only_inside_its_own_validity_window() {
        let remembered = Remembered::default();
        let token = Remembered::fingerprint("a.b.c");
        remembered.insert(token, verified(100.0, Some(50.0)), 60.0);
        assert!(remembered.get(&token, 49.0).is_none(), "before nbf");
        assert!(remembered.get(&token, 50.0).is_some());
        assert!(remembered.get(&token, 99.9).is_some());
        assert!(remembered.get(&token, 100.0).is_none(), "at exp");
        assert_eq!(remembered.stats().1, 0, "an expired token is forgotten");
        assert!(
            remembered
                .get(&Remembered::fingerprint("a.b.d"), 60.0)
                .is_none()
        );
    }

    #[test]
    fn a_full_memory_drops_expired_tokens_then_everything() {
        let remembered = Remembered::default();
        for n in 0..CAPACITY {
            let exp = if n % 2 == 0 { 10.0 } else { 1000.0 };
            remembered.insert(
                Remembered::fingerprint(&n.to_string()),
                verified(exp, None),
                0.0,
            );
        }
        assert_eq!(remembered.stats().1, CAPACITY);
        remembered.insert(Remembered::fingerprint("new"), verified(1000.0, None), 20.0);
        assert_eq!(
            remembered.stats().1,
            CAPACITY / 2 + 1,
            "the expired half went"
        );
        for n in 0..CAPACITY {
            remembered.insert(
                Remembered::fingerprint(&format!("more-{n}")),
                verified(1000.0, None),
                20.0,
            );
        }
        // Full again with only valid tokens after CAPACITY / 2 - 1 of them: the next one
        // cleared everything, and the rest came after it.
        assert_eq!(remembered.stats().1, CAPACITY / 2 + 1);
        let at = |n: usize| Remembered::fingerprint(&format!("more-{n}"));
        assert!(remembered.get(&at(0), 30.0).is_none());
        assert!(remembered.get(&at(CAPACITY - 1), 30.0).is_some());
    }
}
