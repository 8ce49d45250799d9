//! The API server's cache of successful token authentications, as an option: a real
//! kube-apiserver caches each successful bearer-token authentication for 10 s (its
//! `TokenSuccessCacheTTL`; failures are not cached), so a service-account token keeps working
//! for up to that long after its account is deleted. With a TTL set, kube-sim does the same;
//! without one (the default), every request is authenticated afresh.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::auth::UserInfo;

/// Entries beyond which expired ones are dropped on the next insert.
const PRUNE_AT: usize = 1024;

/// Successful authentications by token and audiences, each good for the TTL (and never past
/// the token's own expiry).
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<(String, Vec<String>), Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    user: UserInfo,
    until: Instant,
    expires: i64,
}

impl TokenCache {
    /// A cache keeping each success for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The user `token` (presented for `audiences`) authenticated as within the TTL, if its
    /// expiry (`exp`, Unix seconds) has not passed either.
    pub fn get(&self, token: &str, audiences: &[String]) -> Option<UserInfo> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(&(token.to_owned(), audiences.to_vec()))?;
        (entry.until > Instant::now() && entry.expires > jiff::Timestamp::now().as_second())
            .then(|| entry.user.clone())
    }

    /// Remembers that `token` (expiring at `expires`, Unix seconds) authenticated as `user`.
    pub fn put(&self, token: &str, audiences: &[String], user: &UserInfo, expires: i64) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= PRUNE_AT {
            entries.retain(|_, entry| entry.until > now);
        }
        entries.insert(
            (token.to_owned(), audiences.to_vec()),
            Entry {
                user: user.clone(),
                until: now + self.ttl,
                expires,
            },
        );
    }
}
