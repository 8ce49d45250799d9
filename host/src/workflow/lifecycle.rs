//! The policy lifecycle seen from the workflow: reloads (from the API, or from `SIGHUP` and the
//! file watcher the service runs) and promotions, each audited and counted; promotions kept in
//! the store so that a restart applies them again.

use super::{Error, Result, Workflow, actor};
use crate::audit::{Actor, Details};
use crate::policy::set::Promotion;
use crate::workflow::ReloadReport;

fn not_reloadable() -> Error {
    Error::Conflict("this service's policies cannot be reloaded".to_owned())
}

impl Workflow {
    /// Reloads the policies (see [`super::PolicyLifecycle::reload`]), then audits the swap
    /// and every rejection and counts them.
    pub async fn reload_policies(&self, trigger: &str, by: &Actor) -> Result<ReloadReport> {
        let lifecycle = self.inner.decider.lifecycle().ok_or_else(not_reloadable)?;
        let report = lifecycle.reload(trigger).await;
        self.record_reload(&report, by).await?;
        Ok(report)
    }

    async fn record_reload(&self, report: &ReloadReport, by: &Actor) -> Result<()> {
        let store = &self.inner.store;
        let metrics = &self.inner.metrics;
        if report.swapped {
            store
                .append_audit(
                    None,
                    by,
                    &Details::PoliciesReloaded {
                        trigger: report.trigger.clone(),
                        generation: report.generation,
                        changed: report.changed.clone(),
                    },
                )
                .await?;
        }
        for rejection in &report.rejected {
            tracing::warn!(
                cluster = rejection.cluster.as_deref().unwrap_or("-"),
                entry = rejection.entry.as_deref().unwrap_or("-"),
                reason = %rejection.reason,
                "policy rejected; the previous version keeps serving"
            );
            metrics.rejection(rejection.cluster.as_deref().unwrap_or("-"));
            store
                .append_audit(
                    None,
                    by,
                    &Details::PolicyRejected {
                        trigger: report.trigger.clone(),
                        cluster: rejection.cluster.clone(),
                        entry: rejection.entry.clone(),
                        file: rejection.file.as_ref().map(|f| f.display().to_string()),
                        digest: rejection.digest.clone(),
                        reason: rejection.reason.clone(),
                    },
                )
                .await?;
        }
        let outcome = match (report.swapped, report.rejected.is_empty()) {
            (true, _) => "swapped",
            (false, false) => "rejected",
            (false, true) => "unchanged",
        };
        metrics.reload(outcome, report.generation);
        Ok(())
    }

    /// Makes the candidate of chain entry `entry` active (in `cluster`, or wherever the entry
    /// has a candidate), records the promotion (so a restart keeps it) and reloads. Not
    /// found when no such entry has a candidate.
    pub async fn promote_policy(
        &self,
        entry: &str,
        cluster: Option<&str>,
        by: &Actor,
    ) -> Result<(Vec<Promotion>, ReloadReport)> {
        let lifecycle = self.inner.decider.lifecycle().ok_or_else(not_reloadable)?;
        let (promoted, report) = lifecycle.promote(entry, cluster).await;
        if promoted.is_empty() {
            return Err(Error::NotFound(format!(
                "policy `{entry}` with a candidate{}",
                cluster.map_or_else(String::new, |c| format!(" in cluster `{c}`"))
            )));
        }
        for promotion in &promoted {
            self.inner.store.save_promotion(promotion, by).await?;
        }
        self.record_reload(&report, by).await?;
        Ok((promoted, report))
    }

    /// Applies the promotions an earlier run recorded (at start).
    pub(super) async fn restore_promotions(&self) -> Result<()> {
        let Some(lifecycle) = self.inner.decider.lifecycle() else {
            return Ok(());
        };
        let promotions = self.inner.store.promotions().await?;
        if promotions.is_empty() {
            return Ok(());
        }
        let report = lifecycle.restore(promotions, "restore").await;
        self.record_reload(&report, &actor("policy-reload")).await
    }

    /// Applies the promotions `promotions` (every one recorded in the store) and reloads:
    /// what a replica does when another published a new reload generation. Audited and
    /// counted as any reload, with trigger `replica`.
    pub async fn follow_policies(
        &self,
        promotions: Vec<Promotion>,
        by: &Actor,
    ) -> Result<ReloadReport> {
        let lifecycle = self.inner.decider.lifecycle().ok_or_else(not_reloadable)?;
        let report = lifecycle.restore(promotions, "replica").await;
        self.record_reload(&report, by).await?;
        Ok(report)
    }
}
