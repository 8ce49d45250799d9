//! What makes the service reload its policies besides the API: `SIGHUP`, and changes to the
//! configuration file or a module file (the file watcher). Each reload goes through
//! [`Replica::reload`] (which publishes a new reload generation for the other replicas when the
//! chains changed) and [`crate::workflow::Workflow::reload_policies`], which audits and counts
//! it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::replica::Replica;
use crate::audit::Actor;

/// How the file watcher behaves.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    /// How long the files must stay quiet before a reload starts.
    pub debounce: Duration,
    /// How long to wait before retrying files that were still being written.
    pub settle: Duration,
}

/// Reloads `replica`'s policies on every `SIGHUP`; `None` when they cannot be reloaded.
#[cfg(unix)]
pub(super) fn reload_on_sighup(replica: &Replica) -> std::io::Result<Option<AbortHandle>> {
    use tokio::signal::unix::{SignalKind, signal};
    if replica.workflow().decider().lifecycle().is_none() {
        return Ok(None);
    }
    let mut hangup = signal(SignalKind::hangup())?;
    let replica = replica.clone();
    let task = tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            if let Err(error) = replica
                .reload("sighup", &Actor::service("policy-reload"))
                .await
            {
                tracing::error!(%error, "reload on SIGHUP failed");
            }
        }
    });
    Ok(Some(task.abort_handle()))
}

/// Watches the configuration file and every configured module file (and the cases file
/// beside it) and reloads `replica`'s policies when they change: once they have been quiet
/// for `settings.debounce`; files still being written are retried after `settings.settle`.
/// `None` when the policies cannot be reloaded.
pub(super) fn watch_policies(
    replica: &Replica,
    settings: WatchSettings,
) -> notify::Result<Option<AbortHandle>> {
    let Some(lifecycle) = replica.workflow().decider().lifecycle() else {
        return Ok(None);
    };
    let (events, mut changes) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, EventKind::Access(_))
        {
            let _ = events.send(event.paths);
        }
    })?;
    let mut files = Watched::default();
    files.update(&mut watcher, &lifecycle.watched());
    let replica = replica.clone();
    let task = tokio::spawn(async move {
        let by = Actor::service("policy-reload");
        let mut retry = false;
        loop {
            if retry {
                // Files were still being written: retry after the settle time, or sooner if
                // they change again.
                let _ = tokio::time::timeout(settings.settle, changes.recv()).await;
            } else {
                match changes.recv().await {
                    Some(paths) if files.concerns(&paths) => {}
                    Some(_) => continue,
                    None => return,
                }
            }
            // Debounce: wait until the watched files have been quiet for a while.
            while let Ok(Some(_)) = tokio::time::timeout(settings.debounce, changes.recv()).await {}
            match replica.reload("watch", &by).await {
                Ok(report) => retry = !report.deferred.is_empty(),
                Err(error) => tracing::error!(%error, "reload on a file change failed"),
            }
            if let Some(lifecycle) = replica.workflow().decider().lifecycle() {
                files.update(&mut watcher, &lifecycle.watched());
            }
        }
    });
    Ok(Some(task.abort_handle()))
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
