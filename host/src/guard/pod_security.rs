//! Pod Security: a grant that may run pods in a namespace (create or change pods, or the
//! workloads that make them) also holds whatever a pod can reach — privileged containers, host
//! paths, the node and every token on it — unless the namespace's Pod Security admission
//! refuses such pods. So Wicket grants it only in namespaces that enforce at least the
//! cluster's level (`pod-security.kubernetes.io/enforce`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::domain::Rule;

/// The label Pod Security admission enforces by.
pub const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// Resources whose writes make or change pods.
const WORKLOADS: [&str; 10] = [
    "pods",
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "jobs",
    "cronjobs",
    "replicationcontrollers",
    "podtemplates",
    "pods/ephemeralcontainers",
];
/// Verbs that make or change objects.
const WRITES: [&str; 3] = ["create", "update", "patch"];

/// The least Pod Security level a namespace must enforce before a grant may run pods there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PodSecurity {
    /// No requirement: only when another admission controller keeps pods unprivileged.
    Off,
    /// `baseline` or `restricted` (the default).
    #[default]
    Baseline,
    /// `restricted` only.
    Restricted,
}

impl fmt::Display for PodSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Baseline => "baseline",
            Self::Restricted => "restricted",
        })
    }
}

impl PodSecurity {
    /// Whether a namespace labelled `labels` enforces at least this level.
    pub fn enforced_by(self, labels: &BTreeMap<String, String>) -> bool {
        let enforced = match labels.get(ENFORCE_LABEL).map(String::as_str) {
            Some("restricted") => Self::Restricted,
            Some("baseline") => Self::Baseline,
            _ => Self::Off,
        };
        enforced >= self
    }
}

/// Whether `rules` let their holder create or change pods, directly or through a workload.
pub fn runs_pods(rules: &[Rule]) -> bool {
    rules.iter().any(|rule| {
        rule.verbs.iter().any(|v| WRITES.contains(&v.as_str()))
            && rule
                .resources
                .iter()
                .any(|r| WORKLOADS.contains(&r.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(level: Option<&str>) -> BTreeMap<String, String> {
        level
            .map(|l| (ENFORCE_LABEL.to_owned(), l.to_owned()))
            .into_iter()
            .collect()
    }

    #[test]
    fn levels_are_ordered() {
        assert!(PodSecurity::Baseline.enforced_by(&labels(Some("baseline"))));
        assert!(PodSecurity::Baseline.enforced_by(&labels(Some("restricted"))));
        assert!(!PodSecurity::Baseline.enforced_by(&labels(Some("privileged"))));
        assert!(!PodSecurity::Baseline.enforced_by(&labels(None)));
        assert!(!PodSecurity::Restricted.enforced_by(&labels(Some("baseline"))));
        assert!(PodSecurity::Off.enforced_by(&labels(None)));
    }

    #[test]
    fn writing_workloads_runs_pods_reading_does_not() {
        let rule = |resources: &[&str], verbs: &[&str]| {
            crate::domain::rule_of(&["", "apps"], resources, verbs, &[])
        };
        assert!(runs_pods(&[rule(&["deployments"], &["patch"])]));
        assert!(runs_pods(&[rule(&["pods"], &["create"])]));
        assert!(runs_pods(&[rule(
            &["pods/ephemeralcontainers"],
            &["update"]
        )]));
        assert!(!runs_pods(&[rule(
            &["pods", "deployments"],
            &["get", "list", "delete"]
        )]));
        assert!(!runs_pods(&[rule(&["configmaps"], &["create"])]));
    }
}
