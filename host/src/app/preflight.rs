//! Wicket's review of its own identity on each cluster (start-up, and again before a cluster's
//! first request when it could not answer then): what it lacks, what it holds beyond the
//! shipped RBAC, and the ClusterRoles behind its bindable roles. Until a cluster has passed,
//! its requests are denied: the review fails closed.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::clusters::{KubeClusters, failure};
use crate::cluster;
use crate::config::ClusterConfig;
use crate::workflow::ClusterFailure;

/// What start-up found on one cluster.
#[derive(Debug, Default)]
pub struct Preflight {
    /// Permissions Wicket lacks: grants will fail until they are given.
    pub missing: Vec<cluster::Permission>,
    /// Permissions Wicket holds beyond what it needs.
    pub excess: Vec<cluster::Excess>,
    /// Bindable roles whose ClusterRole does not exist: grants of them are denied.
    pub absent_roles: Vec<String>,
    /// Bindable roles whose ClusterRole holds a rule never granted.
    pub unsafe_roles: Vec<String>,
}

impl Preflight {
    /// Whether the service must not start: a bindable role that would grant what is never
    /// granted, or (unless `allow_excess`) more privileges than Wicket needs.
    pub fn refuses(&self, allow_excess: bool) -> bool {
        !self.unsafe_roles.is_empty() || (!allow_excess && !self.excess.is_empty())
    }
}

/// How often a cluster that could not be reviewed is tried again (requests meanwhile are
/// denied).
const RETRY_REVIEW: Duration = Duration::from_secs(10);

/// The review of one cluster: until it has passed, the cluster's requests are denied.
#[derive(Debug, Clone)]
pub(super) struct Review {
    own_namespace: String,
    allow_excess: bool,
    state: Arc<Mutex<ReviewState>>,
}

#[derive(Debug, Default)]
struct ReviewState {
    passed: bool,
    refused: Option<String>,
    failed: Option<(Instant, String)>,
}

impl Review {
    pub(super) fn new(config: &ClusterConfig) -> Self {
        Self {
            own_namespace: config.own_namespace.clone(),
            allow_excess: config.allow_excess_privileges,
            state: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, ReviewState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KubeClusters {
    /// Reviews Wicket's own permissions on `cluster` and the ClusterRoles behind its bindable
    /// roles, and records the outcome: a review that does not refuse lets the cluster's
    /// requests through. Fails only if the cluster cannot answer.
    pub async fn review(&self, cluster: &str) -> Result<Preflight, ClusterFailure> {
        let not_configured = || ClusterFailure {
            step: None,
            message: format!("cluster `{cluster}` is not configured"),
        };
        let review = self.reviews.get(cluster).ok_or_else(not_configured)?;
        let (target, guardrails) = self.targets.get(cluster).ok_or_else(not_configured)?;
        let own_namespace = review.own_namespace.as_str();
        let bindable: Vec<&str> = guardrails.roles().map(|(_, c)| c).collect();
        let mut found = Preflight {
            missing: target
                .missing_permissions()
                .await
                .map_err(|e| failure(&e))?,
            excess: target
                .excess_permissions(own_namespace, &bindable)
                .await
                .map_err(|e| failure(&e))?,
            ..Preflight::default()
        };
        for (role, cluster_role) in guardrails.roles() {
            match target
                .cluster_role_rules(cluster_role)
                .await
                .map_err(|e| failure(&e))?
            {
                None => found
                    .absent_roles
                    .push(format!("role `{role}`: ClusterRole `{cluster_role}`")),
                Some(rules) => {
                    if let Err(violation) = guardrails.check_bindable(role, cluster_role, &rules) {
                        found.unsafe_roles.push(violation.to_string());
                    }
                }
            }
        }
        let mut state = review.state();
        if found.refuses(review.allow_excess) {
            let mut why: Vec<String> = found.unsafe_roles.clone();
            if !review.allow_excess {
                why.extend(found.excess.iter().map(ToString::to_string));
            }
            state.refused = Some(why.join("; "));
        } else {
            state.passed = true;
        }
        Ok(found)
    }

    /// `Ok` once `cluster` has passed its review; otherwise reviews it now (a cluster that
    /// could not answer at most every [`RETRY_REVIEW`]) and says why its requests are denied.
    /// A refused review stays refused until a restart with Wicket's RBAC fixed.
    pub(super) async fn ensure_reviewed(&self, cluster: &str) -> Result<(), String> {
        let Some(review) = self.reviews.get(cluster) else {
            return Err(format!("cluster `{cluster}` is not configured"));
        };
        {
            let state = review.state();
            if state.passed {
                return Ok(());
            }
            if state.refused.is_some() {
                return Err(REFUSED.to_owned());
            }
            if let Some((at, _)) = &state.failed
                && at.elapsed() < RETRY_REVIEW
            {
                return Err(UNREVIEWED.to_owned());
            }
        }
        match self.review(cluster).await {
            Ok(_) if review.state().passed => Ok(()),
            Ok(_) => {
                tracing::error!(cluster, refused = ?review.state().refused, "wicket holds more than it needs");
                Err(REFUSED.to_owned())
            }
            Err(failure) => {
                tracing::warn!(cluster, error = %failure, "cannot review wicket's permissions");
                review.state().failed = Some((Instant::now(), failure.message));
                Err(UNREVIEWED.to_owned())
            }
        }
    }
}

/// Why requests are denied while a cluster has not passed its review.
const UNREVIEWED: &str = "wicket's own permissions on this cluster could not be reviewed yet";
/// Why requests are denied when a cluster's review refused.
const REFUSED: &str = "wicket holds more than it needs on this cluster (see its log)";
