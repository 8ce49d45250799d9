//! The policy lifecycle seen from the workflow: reloads (from the API, `SIGHUP` or the file
//! watcher) and promotions, each audited and counted; promotions kept in the store so that a
//! restart applies them again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::{Error, Result, Workflow, actor, lock};
use crate::audit::{Actor, Details};
use crate::policy::set::Promotion;
use crate::workflow::ReloadReport;

/// How the file watcher behaves.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    /// How long the files must stay quiet before a reload starts.
    pub debounce: Duration,
    /// How long to wait before retrying files that were still being written.
    pub settle: Duration,
}

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
        let report = lifecycle.restore(promotions).await;
        self.record_reload(&report, &actor("policy-reload")).await
    }

    /// Reloads on every `SIGHUP` until the workflow shuts down.
    #[cfg(unix)]
    pub fn reload_on_sighup(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        if self.inner.decider.lifecycle().is_none() {
            return Ok(());
        }
        let mut hangup = signal(SignalKind::hangup())?;
        let workflow = self.clone();
        let task = tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                if let Err(error) = workflow
                    .reload_policies("sighup", &actor("policy-reload"))
                    .await
                {
                    tracing::error!(%error, "reload on SIGHUP failed");
                }
            }
        });
        lock(&self.inner.background).push(task.abort_handle());
        Ok(())
    }

    /// Watches the configuration file and every configured module file (and the cases file
    /// beside it) and reloads when they change: once they have been quiet for
    /// `settings.debounce`; files still being written are retried after `settings.settle`.
    pub fn watch_policies(&self, settings: WatchSettings) -> notify::Result<()> {
        let Some(lifecycle) = self.inner.decider.lifecycle() else {
            return Ok(());
        };
        let (events, mut changes) = mpsc::unbounded_channel::<Vec<PathBuf>>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && !matches!(event.kind, EventKind::Access(_))
                {
                    let _ = events.send(event.paths);
                }
            })?;
        let mut files = Watched::default();
        files.update(&mut watcher, &lifecycle.watched());
        let workflow = self.clone();
        let task = tokio::spawn(async move {
            let by = actor("policy-reload");
            let mut retry = false;
            loop {
                if retry {
                    // Files were still being written: retry after the settle time, or
                    // sooner if they change again.
                    let _ = tokio::time::timeout(settings.settle, changes.recv()).await;
                } else {
                    match changes.recv().await {
                        Some(paths) if files.concerns(&paths) => {}
                        Some(_) => continue,
                        None => return,
                    }
                }
                // Debounce: wait until the watched files have been quiet for a while.
                while let Ok(Some(_)) =
                    tokio::time::timeout(settings.debounce, changes.recv()).await
                {}
                match workflow.reload_policies("watch", &by).await {
                    Ok(report) => retry = !report.deferred.is_empty(),
                    Err(error) => tracing::error!(%error, "reload on a file change failed"),
                }
                if let Some(lifecycle) = workflow.inner.decider.lifecycle() {
                    files.update(&mut watcher, &lifecycle.watched());
                }
            }
        });
        lock(&self.inner.background).push(task.abort_handle());
        Ok(())
    }
}

/// The watched files, by canonical directory and file name, and the directories watched.
#[derive(Default)]
struct Watched {
    files: HashSet<(PathBuf, std::ffi::OsString)>,
    dirs: HashSet<PathBuf>,
}

impl Watched {
    /// Watches the directory of every file in `paths` (files are replaced by renames, which a
    /// watch on the file itself would lose) and remembers which files matter: each file and,
    /// for modules, the cases file beside it.
    fn update(&mut self, watcher: &mut notify::RecommendedWatcher, paths: &[PathBuf]) {
        self.files.clear();
        for path in paths {
            let cases = crate::policy::cases::beside(path);
            for file in [path.as_path(), cases.as_path()] {
                if let Some(key) = key(file) {
                    self.files.insert(key);
                }
            }
            let Some((dir, _)) = key(path) else { continue };
            if self.dirs.insert(dir.clone())
                && let Err(error) = watcher.watch(&dir, RecursiveMode::NonRecursive)
            {
                tracing::warn!(dir = %dir.display(), %error, "cannot watch a policy directory");
                self.dirs.remove(&dir);
            }
        }
    }

    fn concerns(&self, paths: &[PathBuf]) -> bool {
        paths
            .iter()
            .filter_map(|p| key(p))
            .any(|k| self.files.contains(&k))
    }
}

/// A file's canonical directory and its name.
fn key(path: &Path) -> Option<(PathBuf, std::ffi::OsString)> {
    let name = path.file_name()?.to_owned();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Some((
        std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()),
        name,
    ))
}
