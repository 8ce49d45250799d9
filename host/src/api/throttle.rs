//! The per-source rate limit in front of every route, before authentication: a token bucket per
//! [`Source`] in a table of bounded size.
//!
//! When the table is full, buckets that have refilled (an idle source is as good as a new one)
//! are dropped, at most once a second; if none has, the sources that find no room share one
//! overflow bucket, so many addresses can neither grow the table nor escape the limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::AppState;
use super::error::ApiError;
use super::source::Source;
use crate::config::Limits;

/// How often a full table is swept for idle sources.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A source's allowance: `tokens` calls left at `at`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
struct Table {
    buckets: HashMap<Source, Bucket>,
    overflow: Bucket,
    next_sweep: Instant,
}

/// The per-source limiter.
#[derive(Debug)]
pub struct SourceLimiter {
    per_second: f64,
    burst: f64,
    capacity: usize,
    table: Mutex<Table>,
    refused: AtomicU64,
}

impl SourceLimiter {
    /// A limiter with `limits`' per-source rate, burst and table size.
    pub fn new(limits: &Limits) -> Self {
        let burst = f64::from(limits.source_burst);
        let now = Instant::now();
        Self {
            per_second: f64::from(limits.source_requests_per_minute) / 60.0,
            burst,
            capacity: limits.tracked_sources,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                overflow: Bucket {
                    tokens: burst,
                    at: now,
                },
                next_sweep: now,
            }),
            refused: AtomicU64::new(0),
        }
    }

    /// Counts one call from `source`: `Err(wait)` when it is over the limit, with how long
    /// until it may call again.
    pub fn check(&self, source: Source) -> Result<(), Duration> {
        let checked = self.check_at(source, Instant::now());
        if checked.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        checked
    }

    fn check_at(&self, source: Source, now: Instant) -> Result<(), Duration> {
        let mut table = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Table {
            buckets,
            overflow,
            next_sweep,
        } = &mut *table;
        if !buckets.contains_key(&source) && buckets.len() >= self.capacity && now >= *next_sweep {
            buckets.retain(|_, bucket| self.refilled(bucket, now) < self.burst);
            *next_sweep = now + SWEEP_EVERY;
        }
        let bucket = if buckets.len() < self.capacity || buckets.contains_key(&source) {
            buckets.entry(source).or_insert(Bucket {
                tokens: self.burst,
                at: now,
            })
        } else {
            overflow
        };
        bucket.tokens = self.refilled(bucket, now);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }

    /// The tokens `bucket` holds at `now`.
    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second).min(self.burst)
    }

    /// Registers calls refused and sources tracked for one scrape.
    pub fn register_metrics(&self, registry: &mut Registry) {
        let tracked = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .buckets
            .len();
        registry.register(
            "wicket_source_rate_limited",
            "Calls refused by the per-source rate limit, before authentication",
            ConstCounter::new(self.refused.load(Ordering::Relaxed)),
        );
        registry.register(
            "wicket_sources_tracked",
            "Source addresses the per-source rate limit tracks now",
            ConstGauge::new(i64::try_from(tracked).unwrap_or(i64::MAX)),
        );
    }
}

/// The layer: resolves the call's [`Source`] (kept in the request's extensions for the
/// handlers), and answers 429 with `Retry-After` when the source is over its limit.
pub(super) async fn limit_sources(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let source = Source::resolve(peer, request.headers(), &state.limits.trusted_proxies);
    if let Err(wait) = state.sources.check(source) {
        tracing::debug!(%source, path = %request.uri().path(), "rate limited before authentication");
        return ApiError::SourceRateLimited {
            retry_after: wait.as_secs().saturating_add(1),
        }
        .into_response();
    }
    request.extensions_mut().insert(source);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, burst: u32, tracked: usize) -> SourceLimiter {
        SourceLimiter::new(&Limits {
            source_requests_per_minute: per_minute,
            source_burst: burst,
            tracked_sources: tracked,
            ..Limits::default()
        })
    }

    fn source(n: u8) -> Source {
        Source::of(std::net::IpAddr::from([192, 0, 2, n]))
    }

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = limiter(60, 3, 10);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(source(1), start).is_ok());
        }
        let wait = limiter.check_at(source(1), start).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(limiter.check_at(source(2), start).is_ok(), "another source");
        let later = start + Duration::from_secs(1);
        assert!(
            limiter.check_at(source(1), later).is_ok(),
            "one token a second"
        );
        assert!(limiter.check_at(source(1), later).is_err());
    }

    #[test]
    fn the_table_stays_bounded_and_overflow_sources_share_one_allowance() {
        let limiter = limiter(60, 2, 4);
        let start = Instant::now();
        for n in 0..4 {
            assert!(limiter.check_at(source(n), start).is_ok());
        }
        // Full of sources that have not refilled: newcomers share the overflow bucket.
        assert!(limiter.check_at(source(10), start).is_ok());
        assert!(limiter.check_at(source(11), start).is_ok());
        assert!(limiter.check_at(source(12), start).is_err());
        assert_eq!(limiter.table.lock().unwrap().buckets.len(), 4);
        // Once they have refilled, they make room again.
        let later = start + Duration::from_secs(5);
        assert!(limiter.check_at(source(12), later).is_ok());
        let table = limiter.table.lock().unwrap();
        assert!(table.buckets.contains_key(&source(12)));
        assert!(table.buckets.len() <= 4);
    }
}
