//! Start-up recovery and the reconciler.
//!
//! On start, requests left half-way by a stopped process (`received`, `approved`,
//! `provisioning`) are marked `failed`, every stored due time gets its timer back (overdue
//! grants expire at once, `revoking` ones are torn down), and the reconciler runs. Each sweep
//! also arms the timer of every stored due time that has none. The reconciler lists the objects this
//! installation created through each cluster entry (selected by the `wicket.dev/installation`
//! and `wicket.dev/cluster` labels) and deletes those whose request is unknown, not active, or
//! past its expiry, auditing each deletion; it leaves alone requests this process is working
//! on. Objects of another installation or another cluster entry are never listed, so never
//! deleted.
//!
//! Objects made by a Wicket before installation labels carry none: nothing tells whose they
//! are, so the reconciler leaves them alone and start-up logs, once per cluster, how many there
//! are and how to find them (`app.kubernetes.io/managed-by=wicket,!wicket.dev/installation`).
//! A grant of this installation made before the upgrade still ends on time: teardown also
//! deletes the unlabelled objects of that one request.

use std::time::Duration;

use super::{Result, Workflow, actor, lock, now};
use crate::audit::Details;
use crate::domain::RequestState;
use crate::store::{self, Transition};

/// What one reconciler sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Objects deleted.
    pub deleted: usize,
    /// Clusters that could not be listed or cleaned completely.
    pub failed_clusters: Vec<String>,
    /// Timers armed from stored due times that had none in this process.
    pub armed: usize,
}

impl Workflow {
    /// Recovers after a restart, runs the reconciler once, and starts its periodic sweep.
    pub async fn start(&self) -> Result<Sweep> {
        let store = &self.inner.store;
        tracing::info!(
            installation = store.installation(),
            "this installation's objects are labelled `wicket.dev/installation=<installation>`"
        );
        let workflow = actor("workflow");
        for from in [
            RequestState::Received,
            RequestState::Approved,
            RequestState::Provisioning,
        ] {
            for record in store.requests_in_state(from).await? {
                if lock(&self.inner.in_flight).contains(&record.id) {
                    continue;
                }
                let note =
                    format!("interrupted: the service stopped while the request was `{from}`");
                match store
                    .transition_due(
                        Transition {
                            id: &record.id,
                            from,
                            to: RequestState::Failed,
                            actor: &workflow,
                            note: Some(&note),
                            detail: None,
                            expires_at: None,
                        },
                        None,
                    )
                    .await
                {
                    Ok(_) | Err(store::Error::StateConflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.arm_stored().await?;
        self.restore_promotions().await?;
        let sweep = self.reconcile().await?;
        self.report_legacy().await;
        let interval = self.inner.settings.reconcile_interval;
        let workflow = self.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if let Err(error) = workflow.reconcile().await {
                    tracing::error!(%error, "reconciler sweep failed");
                }
            }
        });
        lock(&self.inner.background).push(task.abort_handle());
        Ok(sweep)
    }

    /// One reconciler sweep over every cluster.
    #[tracing::instrument(skip(self))]
    pub async fn reconcile(&self) -> Result<Sweep> {
        let store = &self.inner.store;
        let reconciler = actor("reconciler");
        let mut sweep = Sweep::default();
        for cluster in self.inner.clusters.names() {
            let managed = match self
                .inner
                .clusters
                .list_managed(&cluster, store.installation())
                .await
            {
                Ok(managed) => managed,
                Err(error) => {
                    tracing::warn!(%cluster, %error, "cannot list managed objects");
                    sweep.failed_clusters.push(cluster);
                    continue;
                }
            };
            let mut cluster_failed = false;
            for object in managed {
                let keep = match &object.request_id {
                    None => false,
                    Some(id) if lock(&self.inner.in_flight).contains(id) => true,
                    Some(id) => match store.get_request(id).await {
                        Ok(record) => {
                            record.cluster == cluster
                                && record.state == RequestState::Active
                                && record.expires_at.is_some_and(|at| at > now())
                        }
                        Err(store::Error::NotFound(_)) => false,
                        Err(e) => return Err(e.into()),
                    },
                };
                if keep {
                    continue;
                }
                if let Err(error) = self.inner.clusters.delete_managed(&cluster, &object).await {
                    tracing::warn!(%cluster, object = ?object.object, %error, "cannot delete");
                    cluster_failed = true;
                    continue;
                }
                tracing::info!(%cluster, object = ?object.object, request_id = ?object.request_id, "reconciler deleted");
                match &object.request_id {
                    Some(id) => {
                        store
                            .record_object_deleted(id, &object.object, &reconciler)
                            .await?;
                    }
                    None => {
                        store
                            .append_audit(
                                None,
                                &reconciler,
                                &Details::ObjectDeleted {
                                    object: object.object.clone(),
                                },
                            )
                            .await?;
                    }
                }
                sweep.deleted += 1;
            }
            if cluster_failed {
                sweep.failed_clusters.push(cluster);
            }
        }
        // Due times whose timer is missing (another process's, or one a failed write left).
        sweep.armed = self.arm_stored().await?;
        Ok(sweep)
    }

    /// Logs, once per cluster, the Wicket-labelled objects without an installation label that
    /// the reconciler leaves alone.
    async fn report_legacy(&self) {
        for cluster in self.inner.clusters.names() {
            match self.inner.clusters.list_legacy(&cluster).await {
                Ok(legacy) if legacy.is_empty() => {}
                Ok(legacy) => tracing::warn!(
                    %cluster,
                    objects = legacy.len(),
                    selector = %crate::cluster::legacy_selector(),
                    "objects made by a Wicket before installation labels are left alone; \
                     delete them by hand once their grants have ended"
                ),
                Err(error) => {
                    tracing::warn!(%cluster, %error, "cannot list objects without installation labels");
                }
            }
        }
    }

    /// The configured reconciler interval.
    pub fn reconcile_interval(&self) -> Duration {
        self.inner.settings.reconcile_interval
    }
}
