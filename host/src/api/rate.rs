//! A per-subject rate limit: a fixed one-minute window per (issuer, subject).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::Identity;

const WINDOW: Duration = Duration::from_secs(60);

/// Counts calls per subject and minute.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<(String, String), (Instant, u32)>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` calls per subject and minute.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The configured limit.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Counts one call of `identity`; `Err(wait)` when it is over the limit, with how long
    /// until its window ends.
    pub fn allow(&self, identity: &Identity) -> Result<(), Duration> {
        let now = Instant::now();
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() > 100_000 {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows
            .entry((identity.issuer.clone(), identity.subject.clone()))
            .or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 <= self.per_minute {
            Ok(())
        } else {
            Err(WINDOW.saturating_sub(now.duration_since(entry.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_subject() {
        let limiter = RateLimiter::new(2);
        let identity = |sub: &str| Identity {
            subject: sub.into(),
            issuer: "i".into(),
            groups: vec![],
            claims: Default::default(),
        };
        assert!(limiter.allow(&identity("a")).is_ok());
        assert!(limiter.allow(&identity("a")).is_ok());
        let wait = limiter.allow(&identity("a")).unwrap_err();
        assert!(wait <= WINDOW && wait > Duration::ZERO, "{wait:?}");
        assert!(limiter.allow(&identity("b")).is_ok());
    }
}
