//! The service's counters, kept and rendered by `prometheus-client` (the Prometheus text
//! format 0.0.4): requests by outcome, policy decision latency, provisioning failures by step,
//! active grants, teardown retries and the grants whose teardown awaits one, and the policy
//! lifecycle (reloads by outcome, rejections, shadow differences, the serving generation).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::store::WriteStats;

/// Upper bounds of the decision latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

/// One label and its value.
type Label = [(&'static str, String); 1];
/// Two labels and their values.
type Labels2 = [(&'static str, String); 2];

/// The counters, shared by every task (each metric is a handle on shared atomics).
#[derive(Debug, Clone)]
pub struct Metrics {
    outcomes: Family<Label, Counter>,
    decisions: Histogram,
    provisioning_failures: Family<Label, Counter>,
    reloads: Family<Label, Counter>,
    rejections: Family<Label, Counter>,
    differences: Family<Labels2, Counter>,
    generation: Gauge,
    teardown_retries: Counter,
    teardowns_pending: Arc<Mutex<BTreeSet<String>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            outcomes: Family::default(),
            decisions: Histogram::new(BUCKETS),
            provisioning_failures: Family::default(),
            reloads: Family::default(),
            rejections: Family::default(),
            differences: Family::default(),
            generation: Gauge::default(),
            teardown_retries: Counter::default(),
            teardowns_pending: Arc::default(),
        }
    }
}

impl Metrics {
    /// Counts a submitted request by how it ended (`active`, `denied`, `failed`, ...).
    pub fn request(&self, outcome: &str) {
        self.outcomes
            .get_or_create(&[("outcome", outcome.to_owned())])
            .inc();
    }

    /// Records how long a chain took to decide.
    pub fn decision(&self, took: Duration) {
        self.decisions.observe(took.as_secs_f64());
    }

    /// Counts a provisioning failure at `step`.
    pub fn provisioning_failure(&self, step: &str) {
        self.provisioning_failures
            .get_or_create(&[("step", step.to_owned())])
            .inc();
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.teardowns_pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a failed teardown of request `id`, which now awaits a retry.
    pub fn teardown_failed(&self, id: &str) {
        self.teardown_retries.inc();
        self.pending().insert(id.to_owned());
    }

    /// Request `id` awaits no teardown retry any more.
    pub fn teardown_settled(&self, id: &str) {
        self.pending().remove(id);
    }

    /// Counts a reload by outcome (`swapped`, `unchanged`, `rejected`) and records the
    /// generation serving after it.
    pub fn reload(&self, outcome: &str, generation: u64) {
        self.reloads
            .get_or_create(&[("outcome", outcome.to_owned())])
            .inc();
        self.generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
    }

    /// Counts a rejected module, chain or configuration of `cluster` (`-` for a whole reload).
    pub fn rejection(&self, cluster: &str) {
        self.rejections
            .get_or_create(&[("cluster", cluster.to_owned())])
            .inc();
    }

    /// Counts a candidate's difference from the active module of `entry` in `cluster`.
    pub fn shadow_difference(&self, cluster: &str, entry: &str) {
        self.differences
            .get_or_create(&[
                ("cluster", cluster.to_owned()),
                ("policy", entry.to_owned()),
            ])
            .inc();
    }

    /// Registers every metric in `registry` for one scrape, with `active_grants` as the
    /// current gauge value and the store's write counters.
    pub fn register(&self, registry: &mut Registry, active_grants: usize, writes: WriteStats) {
        registry.register(
            "wicket_requests",
            "Access requests by outcome",
            self.outcomes.clone(),
        );
        registry.register(
            "wicket_decision_seconds",
            "Time the policy chain took to decide",
            self.decisions.clone(),
        );
        registry.register(
            "wicket_provisioning_failures",
            "Failed provisionings by step",
            self.provisioning_failures.clone(),
        );
        registry.register(
            "wicket_teardown_retries",
            "Teardowns that failed and are retried",
            self.teardown_retries.clone(),
        );
        registry.register(
            "wicket_teardowns_pending",
            "Grants whose teardown failed and awaits a retry",
            ConstGauge::new(i64::try_from(self.pending().len()).unwrap_or(i64::MAX)),
        );
        registry.register(
            "wicket_policy_reloads",
            "Policy reloads by outcome",
            self.reloads.clone(),
        );
        registry.register(
            "wicket_policy_rejections",
            "Modules, chains or configurations a reload refused, by cluster",
            self.rejections.clone(),
        );
        registry.register(
            "wicket_policy_shadow_differences",
            "Live requests a candidate module decided otherwise than the active one",
            self.differences.clone(),
        );
        registry.register(
            "wicket_policy_generation",
            "The generation of the policy set serving now (0: never reloaded)",
            self.generation.clone(),
        );
        registry.register(
            "wicket_active_grants",
            "Grants in effect now",
            ConstGauge::new(i64::try_from(active_grants).unwrap_or(i64::MAX)),
        );
        registry.register(
            "wicket_store_writes",
            "Changes written to the database",
            ConstCounter::new(writes.writes),
        );
        registry.register(
            "wicket_store_batches",
            "Transactions that carried them (group commit)",
            ConstCounter::new(writes.batches),
        );
    }

    /// These metrics alone in the Prometheus text format.
    pub fn render(&self, active_grants: usize, writes: WriteStats) -> String {
        let mut registry = Registry::default();
        self.register(&mut registry, active_grants, writes);
        encode(&registry)
    }
}

/// `registry` in the Prometheus text format (version 0.0.4).
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing to a `String` cannot fail.
    let _ = prometheus_text::encode(&mut text, registry);
    text
}

/// The `Content-Type` of [`encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_gauge() {
        let metrics = Metrics::default();
        metrics.request("denied");
        metrics.request("denied");
        metrics.request("active");
        metrics.decision(Duration::from_micros(80));
        metrics.decision(Duration::from_millis(3));
        metrics.provisioning_failure("role-binding");
        metrics.reload("swapped", 3);
        metrics.reload("rejected", 3);
        metrics.rejection("dev");
        metrics.shadow_difference("dev", "groups");
        metrics.teardown_failed("r1");
        metrics.teardown_failed("r1");
        metrics.teardown_failed("r2");
        metrics.teardown_settled("r2");
        let writes = WriteStats {
            batches: 2,
            writes: 5,
        };
        let text = metrics.render(4, writes);
        for line in [
            "# TYPE wicket_requests_total counter",
            "wicket_requests_total{outcome=\"denied\"} 2",
            "wicket_requests_total{outcome=\"active\"} 1",
            "# TYPE wicket_decision_seconds histogram",
            "wicket_decision_seconds_bucket{le=\"0.0001\"} 1",
            "wicket_decision_seconds_bucket{le=\"0.005\"} 2",
            "wicket_decision_seconds_bucket{le=\"+Inf\"} 2",
            "wicket_decision_seconds_count 2",
            "wicket_provisioning_failures_total{step=\"role-binding\"} 1",
            "# TYPE wicket_active_grants gauge",
            "wicket_active_grants 4",
            "wicket_policy_reloads_total{outcome=\"swapped\"} 1",
            "wicket_policy_reloads_total{outcome=\"rejected\"} 1",
            "wicket_policy_rejections_total{cluster=\"dev\"} 1",
            "wicket_policy_shadow_differences_total{cluster=\"dev\",policy=\"groups\"} 1",
            "wicket_policy_generation 3",
            "wicket_store_writes_total 5",
            "wicket_store_batches_total 2",
            "wicket_teardown_retries_total 3",
            "wicket_teardowns_pending 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in:\n{text}"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::default();
        metrics.rejection("a\"b\\c\nd");
        let text = metrics.render(0, WriteStats::default());
        assert!(
            text.lines()
                .any(|l| l == r#"wicket_policy_rejections_total{cluster="a\"b\\c\nd"} 1"#),
            "{text}"
        );
    }
}
