//! Failed authentications, counted rather than each written to the audit log: a window per
//! [`Source`] opens at its first failure and is written as one `authentication_failed` event
//! with the count and the codes seen when it closes — by a sweep every few seconds, by the
//! source's next failure after it, or at a graceful stop (a crash loses the counts of the open
//! windows, at most a minute of failures). So a flood of bad tokens from one source writes one
//! event a minute, however long it lasts.
//!
//! The table of open windows is bounded: failures of sources beyond `limits.tracked_sources`
//! share one window, written with the source `*`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::task::AbortHandle;

use super::source::Source;
use crate::audit::{Actor, AuthenticationFailures, Details};
use crate::store::Store;

/// How long a source's failures are counted before they are written.
pub const WINDOW: Duration = Duration::from_secs(60);

/// How often closed windows are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// The failures of one source since its window opened.
#[derive(Debug)]
struct Window {
    opened: Instant,
    first: Timestamp,
    last: Timestamp,
    count: u64,
    codes: BTreeMap<&'static str, u64>,
}

impl Window {
    fn open(now: Instant, at: Timestamp) -> Self {
        Self {
            opened: now,
            first: at,
            last: at,
            count: 0,
            codes: BTreeMap::new(),
        }
    }

    fn details(self, source: Option<Source>) -> Details {
        Details::AuthenticationFailed(AuthenticationFailures::Counted {
            source: source.map_or_else(|| "*".to_owned(), |s| s.to_string()),
            count: self.count,
            codes: self
                .codes
                .into_iter()
                .map(|(code, n)| (code.to_owned(), n))
                .collect(),
            first: self.first,
            last: self.last,
        })
    }
}

#[derive(Debug, Default)]
struct Table {
    /// Open windows by source; `None` is the shared window of sources beyond the capacity.
    windows: HashMap<Option<Source>, Window>,
    /// Every failure since start, by code.
    totals: BTreeMap<&'static str, u64>,
}

/// The open windows, shared by the extractor and the sweeping task.
#[derive(Debug)]
pub struct AuthFailures {
    window: Duration,
    capacity: usize,
    table: Mutex<Table>,
}

impl AuthFailures {
    /// Counts in windows of [`WINDOW`], for at most `capacity` sources at once (plus the shared
    /// one).
    pub fn new(capacity: usize) -> Self {
        Self {
            window: WINDOW,
            capacity,
            table: Mutex::new(Table::default()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a failure with `code` from `source`; returns the event of the source's previous
    /// window when that one is over (to be written now).
    pub fn record(&self, source: Source, code: &'static str) -> Option<Details> {
        self.record_at(source, code, Instant::now(), now())
    }

    fn record_at(
        &self,
        source: Source,
        code: &'static str,
        now: Instant,
        at: Timestamp,
    ) -> Option<Details> {
        let mut table = self.table();
        *table.totals.entry(code).or_default() += 1;
        let windows = &mut table.windows;
        let key = if windows.contains_key(&Some(source))
            || windows.len() - usize::from(windows.contains_key(&None)) < self.capacity
        {
            Some(source)
        } else {
            None
        };
        let closed = match windows.get(&key) {
            Some(window) if now.saturating_duration_since(window.opened) >= self.window => {
                windows.remove(&key).map(|window| window.details(key))
            }
            _ => None,
        };
        let window = windows.entry(key).or_insert_with(|| Window::open(now, at));
        window.count += 1;
        window.last = at;
        *window.codes.entry(code).or_default() += 1;
        closed
    }

    /// Takes the windows that are over.
    pub fn take_closed(&self) -> Vec<Details> {
        self.take_closed_at(Instant::now())
    }

    fn take_closed_at(&self, now: Instant) -> Vec<Details> {
        let mut table = self.table();
        let closed: Vec<Option<Source>> = table
            .windows
            .iter()
            .filter(|(_, w)| now.saturating_duration_since(w.opened) >= self.window)
            .map(|(key, _)| *key)
            .collect();
        closed
            .into_iter()
            .filter_map(|key| table.windows.remove(&key).map(|w| w.details(key)))
            .collect()
    }

    /// Takes every open window (at shutdown).
    pub fn take_all(&self) -> Vec<Details> {
        self.table()
            .windows
            .drain()
            .map(|(key, window)| window.details(key))
            .collect()
    }

    /// Registers failed authentications by code for one scrape.
    pub fn register_metrics(&self, registry: &mut Registry) {
        let failures = Family::<[(&'static str, &'static str); 1], Counter>::default();
        for (code, n) in &self.table().totals {
            failures.get_or_create(&[("code", *code)]).inc_by(*n);
        }
        registry.register(
            "wicket_authentication_failures",
            "Calls whose token did not verify, by code",
            failures,
        );
    }

    /// Writes the events of `closed` windows to the audit log.
    pub async fn write(store: &dyn Store, closed: Vec<Details>) {
        for details in closed {
            if let Details::AuthenticationFailed(AuthenticationFailures::Counted {
                source,
                count,
                ..
            }) = &details
            {
                tracing::info!(%source, count, "failed authentications");
            }
            if let Err(error) = store.append_audit(None, &Actor::Anonymous, &details).await {
                tracing::error!(%error, "cannot audit failed authentications");
            }
        }
    }

    /// Starts the task that writes closed windows every few seconds.
    pub fn spawn_sweeper(
        self: &std::sync::Arc<Self>,
        store: std::sync::Arc<dyn Store>,
    ) -> AbortHandle {
        let failures = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                Self::write(store.as_ref(), failures.take_closed()).await;
            }
        })
        .abort_handle()
    }
}

/// Now, to the millisecond (what the store keeps).
fn now() -> Timestamp {
    Timestamp::from_millisecond(Timestamp::now().as_millisecond())
        .expect("the current time is a valid timestamp")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: u8) -> Source {
        Source::of(std::net::IpAddr::from([198, 51, 100, n]))
    }

    fn counted(details: &Details) -> (&str, u64, &BTreeMap<String, u64>) {
        match details {
            Details::AuthenticationFailed(AuthenticationFailures::Counted {
                source,
                count,
                codes,
                ..
            }) => (source, *count, codes),
            other => panic!("not a count: {other:?}"),
        }
    }

    #[test]
    fn one_event_per_source_and_window_with_the_count_and_codes() {
        let failures = AuthFailures::new(100);
        let start = Instant::now();
        let at = now();
        for n in 0..500 {
            let code = if n % 5 == 0 {
                "expired"
            } else {
                "bad_signature"
            };
            let now = start + Duration::from_millis(n);
            assert!(failures.record_at(source(1), code, now, at).is_none());
        }
        assert!(
            failures
                .take_closed_at(start + Duration::from_secs(30))
                .is_empty()
        );
        // The next failure after the window writes it and opens the next one.
        let closed = failures
            .record_at(source(1), "expired", start + WINDOW, at)
            .expect("the first window is over");
        let (source_text, count, codes) = counted(&closed);
        assert_eq!(source_text, "198.51.100.1");
        assert_eq!(count, 500);
        assert_eq!(codes["expired"], 100);
        assert_eq!(codes["bad_signature"], 400);
        let rest = failures.take_all();
        assert_eq!(rest.len(), 1);
        assert_eq!(counted(&rest[0]).1, 1);
        let mut registry = Registry::default();
        failures.register_metrics(&mut registry);
        let metrics = crate::workflow::metrics::encode(&registry);
        assert!(
            metrics.contains("wicket_authentication_failures_total{code=\"expired\"} 101"),
            "{metrics}"
        );
    }

    #[test]
    fn closed_windows_are_swept_and_the_table_is_bounded() {
        let failures = AuthFailures::new(2);
        let start = Instant::now();
        let at = now();
        for n in 0..50 {
            assert!(
                failures
                    .record_at(source(n), "malformed", start, at)
                    .is_none()
            );
        }
        assert_eq!(failures.table().windows.len(), 3, "two sources and `*`");
        let closed = failures.take_closed_at(start + WINDOW);
        let mut sources: Vec<(String, u64)> = closed
            .iter()
            .map(|d| {
                let (s, n, _) = counted(d);
                (s.to_owned(), n)
            })
            .collect();
        sources.sort();
        assert_eq!(sources.len(), 3);
        assert_eq!(sources.iter().map(|(_, n)| n).sum::<u64>(), 50);
        assert!(
            sources.iter().any(|(s, n)| s == "*" && *n == 48),
            "{sources:?}"
        );
        assert!(failures.take_all().is_empty());
    }
}
