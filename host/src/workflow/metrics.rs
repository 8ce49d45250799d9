//! The service's counters, rendered in the Prometheus text format: requests by outcome,
//! policy decision latency, provisioning failures by step, active grants, teardown retries and
//! the grants whose teardown awaits one, and the policy lifecycle (reloads by outcome,
//! rejections, shadow differences, the serving generation).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::WriteStats;

/// Upper bounds of the decision latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
];

#[derive(Debug, Default)]
struct Inner {
    outcomes: BTreeMap<String, u64>,
    buckets: [u64; BUCKETS.len()],
    decisions: u64,
    decision_seconds: f64,
    provisioning_failures: BTreeMap<String, u64>,
    reloads: BTreeMap<String, u64>,
    rejections: BTreeMap<String, u64>,
    differences: BTreeMap<(String, String), u64>,
    generation: u64,
    teardown_retries: u64,
    teardowns_pending: BTreeSet<String>,
}

/// The counters, shared by every task.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut inner)
    }

    /// Counts a submitted request by how it ended (`active`, `denied`, `failed`, ...).
    pub fn request(&self, outcome: &str) {
        self.with(|m| *m.outcomes.entry(outcome.to_owned()).or_default() += 1);
    }

    /// Records how long a chain took to decide.
    pub fn decision(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        self.with(|m| {
            for (bucket, bound) in m.buckets.iter_mut().zip(BUCKETS) {
                if seconds <= bound {
                    *bucket += 1;
                }
            }
            m.decisions += 1;
            m.decision_seconds += seconds;
        });
    }

    /// Counts a provisioning failure at `step`.
    pub fn provisioning_failure(&self, step: &str) {
        self.with(|m| *m.provisioning_failures.entry(step.to_owned()).or_default() += 1);
    }

    /// Counts a failed teardown of request `id`, which now awaits a retry.
    pub fn teardown_failed(&self, id: &str) {
        self.with(|m| {
            m.teardown_retries += 1;
            m.teardowns_pending.insert(id.to_owned());
        });
    }

    /// Request `id` awaits no teardown retry any more.
    pub fn teardown_settled(&self, id: &str) {
        self.with(|m| {
            m.teardowns_pending.remove(id);
        });
    }

    /// Counts a reload by outcome (`swapped`, `unchanged`, `rejected`) and records the
    /// generation serving after it.
    pub fn reload(&self, outcome: &str, generation: u64) {
        self.with(|m| {
            *m.reloads.entry(outcome.to_owned()).or_default() += 1;
            m.generation = generation;
        });
    }

    /// Counts a rejected module, chain or configuration of `cluster` (`-` for a whole reload).
    pub fn rejection(&self, cluster: &str) {
        self.with(|m| *m.rejections.entry(cluster.to_owned()).or_default() += 1);
    }

    /// Counts a candidate's difference from the active module of `entry` in `cluster`.
    pub fn shadow_difference(&self, cluster: &str, entry: &str) {
        self.with(|m| {
            *m.differences
                .entry((cluster.to_owned(), entry.to_owned()))
                .or_default() += 1;
        });
    }

    /// The Prometheus text exposition, with `active_grants` as the current gauge value and
    /// the store's write counters.
    pub fn render(&self, active_grants: usize, writes: WriteStats) -> String {
        self.with(|m| {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "# HELP wicket_requests_total Access requests by outcome.\n# TYPE wicket_requests_total counter"
            );
            for (outcome, count) in &m.outcomes {
                let _ = writeln!(out, "wicket_requests_total{{outcome=\"{outcome}\"}} {count}");
            }
            let _ = writeln!(
                out,
                "# HELP wicket_decision_seconds Time the policy chain took to decide.\n# TYPE wicket_decision_seconds histogram"
            );
            for (count, bound) in m.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(out, "wicket_decision_seconds_bucket{{le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(
                out,
                "wicket_decision_seconds_bucket{{le=\"+Inf\"}} {}\nwicket_decision_seconds_sum {}\nwicket_decision_seconds_count {}",
                m.decisions, m.decision_seconds, m.decisions
            );
            let _ = writeln!(
                out,
                "# HELP wicket_provisioning_failures_total Failed provisionings by step.\n# TYPE wicket_provisioning_failures_total counter"
            );
            for (step, count) in &m.provisioning_failures {
                let _ = writeln!(
                    out,
                    "wicket_provisioning_failures_total{{step=\"{step}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "# HELP wicket_teardown_retries_total Teardowns that failed and are retried.\n# TYPE wicket_teardown_retries_total counter\nwicket_teardown_retries_total {}",
                m.teardown_retries
            );
            let _ = writeln!(
                out,
                "# HELP wicket_teardowns_pending Grants whose teardown failed and awaits a retry.\n# TYPE wicket_teardowns_pending gauge\nwicket_teardowns_pending {}",
                m.teardowns_pending.len()
            );
            let _ = writeln!(
                out,
                "# HELP wicket_policy_reloads_total Policy reloads by outcome.\n# TYPE wicket_policy_reloads_total counter"
            );
            for (outcome, count) in &m.reloads {
                let _ = writeln!(out, "wicket_policy_reloads_total{{outcome=\"{outcome}\"}} {count}");
            }
            let _ = writeln!(
                out,
                "# HELP wicket_policy_rejections_total Modules, chains or configurations a reload refused, by cluster.\n# TYPE wicket_policy_rejections_total counter"
            );
            for (cluster, count) in &m.rejections {
                let _ = writeln!(
                    out,
                    "wicket_policy_rejections_total{{cluster=\"{cluster}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "# HELP wicket_policy_shadow_differences_total Live requests a candidate module decided otherwise than the active one.\n# TYPE wicket_policy_shadow_differences_total counter"
            );
            for ((cluster, entry), count) in &m.differences {
                let _ = writeln!(
                    out,
                    "wicket_policy_shadow_differences_total{{cluster=\"{cluster}\",policy=\"{entry}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "# HELP wicket_policy_generation The generation of the policy set serving now (0: never reloaded).\n# TYPE wicket_policy_generation gauge\nwicket_policy_generation {}",
                m.generation
            );
            let _ = writeln!(
                out,
                "# HELP wicket_active_grants Grants in effect now.\n# TYPE wicket_active_grants gauge\nwicket_active_grants {active_grants}"
            );
            let _ = writeln!(
                out,
                "# HELP wicket_store_writes_total Changes written to the database.\n# TYPE wicket_store_writes_total counter\nwicket_store_writes_total {}\n# HELP wicket_store_batches_total Transactions that carried them (group commit).\n# TYPE wicket_store_batches_total counter\nwicket_store_batches_total {}",
                writes.writes, writes.batches
            );
            out
        })
    }
}

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
            "wicket_requests_total{outcome=\"denied\"} 2",
            "wicket_requests_total{outcome=\"active\"} 1",
            "wicket_decision_seconds_bucket{le=\"0.0001\"} 1",
            "wicket_decision_seconds_bucket{le=\"0.005\"} 2",
            "wicket_decision_seconds_bucket{le=\"+Inf\"} 2",
            "wicket_decision_seconds_count 2",
            "wicket_provisioning_failures_total{step=\"role-binding\"} 1",
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
}
