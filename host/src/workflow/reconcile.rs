//! Start-up and the reconciler.
//!
//! On start, every stored due time gets its timer back (overdue grants expire at once,
//! `revoking` ones are torn down, requests left half-way by a process that stopped are failed
//! and rolled back once their deadline passes), the reconciler runs, and the background tasks
//! start: the periodic sweep, the poll for due timers no replica drives, and the heartbeat of
//! this process's work in progress (see `timers.rs`). Start fails nothing itself: with several
//! replicas, a request in progress may be another replica's.
//!
//! The reconciler is coordinated through a lease in the store (`reconciler`): one replica at a
//! time sweeps, and keeps the lease while it sweeps (renewed before each deletion, for its
//! interval and a claim lease beyond), so a replica that dies hands it on. The sweep lists the
//! objects this installation created through each cluster entry (selected by the
//! `wicket.dev/installation` and `wicket.dev/cluster` labels) and deletes those whose request
//! is unknown, of another cluster entry, or ended (a final state), auditing each deletion it
//! made. Objects of a request still live (being provisioned, active, being torn down) are left
//! to that request's timer, which every replica can claim: the reconciler never deletes an
//! object another replica is creating, nor races a teardown. Each sweep also arms the timer of
//! every stored due time that has none in this process. Objects of another installation or
//! another cluster entry are never listed, so never deleted.
//!
//! Objects made by a Wicket before installation labels carry none: nothing tells whose they
//! are, so the reconciler leaves them alone and start-up logs, once per cluster, how many there
//! are and how to find them (`app.kubernetes.io/managed-by=wicket,!wicket.dev/installation`).
//! A grant of this installation made before the upgrade still ends on time: teardown also
//! deletes the unlabelled objects of that one request.

use std::future::Future;
use std::time::Duration;

use super::{Result, Workflow, actor, after, lock, now};
use crate::audit::Details;
use crate::store::{self, Claim};

/// The name of the reconciler's lease in the store.
pub const RECONCILER_LEASE: &str = "reconciler";

/// What one reconciler sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Objects deleted.
    pub deleted: usize,
    /// Clusters that could not be listed or cleaned completely.
    pub failed_clusters: Vec<String>,
    /// Timers armed from stored due times that had none in this process.
    pub armed: usize,
    /// Another replica held the reconciler's lease: this one did not sweep (or stopped).
    pub elsewhere: bool,
}

impl Workflow {
    /// Arms the stored timers, runs the reconciler once, and starts the background tasks
    /// (the periodic sweep, the poll for due timers, the heartbeat of work in progress).
    pub async fn start(&self) -> Result<Sweep> {
        let store = &self.inner.store;
        tracing::info!(
            installation = store.installation(),
            replica = %self.inner.settings.replica,
            "this installation's objects are labelled `wicket.dev/installation=<installation>`"
        );
        self.arm_stored().await?;
        self.restore_promotions().await?;
        let sweep = self.reconcile().await?;
        self.report_legacy().await;
        let settings = &self.inner.settings;
        self.every(
            settings.reconcile_interval,
            "reconciler sweep",
            |w| async move { w.reconcile().await.map(drop) },
        );
        self.every(settings.claim_poll, "poll for due timers", |w| async move {
            w.poll_due().await.map(drop).map_err(Into::into)
        });
        self.every(
            settings.claim_lease / 3,
            "heartbeat of work in progress",
            |w| async move { w.heartbeat().await.map_err(Into::into) },
        );
        Ok(sweep)
    }

    /// Runs `work` every `interval` in a background task (stopped by [`Workflow::shutdown`]),
    /// logging its failures as `what`.
    fn every<F, W>(&self, interval: Duration, what: &'static str, work: W)
    where
        W: Fn(Workflow) -> F + Send + 'static,
        F: Future<Output = Result<()>> + Send,
    {
        let workflow = self.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if let Err(error) = work(workflow.clone()).await {
                    tracing::error!(%error, "{what} failed");
                }
            }
        });
        lock(&self.inner.background).push(task.abort_handle());
    }

    /// Takes or renews the reconciler's lease: for its interval and a claim lease beyond.
    async fn hold_reconciler_lease(&self) -> store::Result<bool> {
        let settings = &self.inner.settings;
        let now = now();
        let claim = Claim {
            replica: &settings.replica,
            now,
            until: after(now, settings.reconcile_interval + settings.claim_lease),
        };
        self.inner
            .store
            .acquire_lease(RECONCILER_LEASE, claim)
            .await
    }

    /// One reconciler sweep over every cluster, if this replica holds (or takes) the
    /// reconciler's lease; then arms the stored due times that have no timer here.
    #[tracing::instrument(skip(self))]
    pub async fn reconcile(&self) -> Result<Sweep> {
        let mut sweep = Sweep::default();
        if self.hold_reconciler_lease().await? {
            self.sweep(&mut sweep).await?;
        } else {
            tracing::debug!("another replica holds the reconciler's lease");
            sweep.elsewhere = true;
        }
        // Due times whose timer is missing (another process's, or one a failed write left).
        sweep.armed = self.arm_stored().await?;
        Ok(sweep)
    }

    async fn sweep(&self, sweep: &mut Sweep) -> Result<()> {
        let store = &self.inner.store;
        let reconciler = actor("reconciler");
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
                    // A live request's objects are its timer's to delete.
                    Some(id) => match store.get_request(id).await {
                        Ok(record) => record.cluster == cluster && !record.state.is_final(),
                        Err(store::Error::NotFound(_)) => false,
                        Err(e) => return Err(e.into()),
                    },
                };
                if keep {
                    continue;
                }
                if !self.hold_reconciler_lease().await? {
                    tracing::info!("the reconciler's lease went to another replica; stopping");
                    sweep.elsewhere = true;
                    return Ok(());
                }
                let deleted = match self.inner.clusters.delete_managed(&cluster, &object).await {
                    Ok(deleted) => deleted,
                    Err(error) => {
                        tracing::warn!(%cluster, object = ?object.object, %error, "cannot delete");
                        cluster_failed = true;
                        continue;
                    }
                };
                if !deleted {
                    // Someone else deleted it first, and audits it.
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
        Ok(())
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
